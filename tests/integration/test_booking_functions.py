"""The booking's server-side pieces: which rooms a stay gets, and what each night costs."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from bridge.sql import query
from tests.helpers import add_pms_hotel

NIGHT = date.today() + timedelta(days=60)


class Hotel:
    """A hotel of its own (no seed bookings): one room type's three rooms, in id order."""

    def __init__(
        self, conn: psycopg.AsyncConnection[Any], hotel_id: int, type_id: int, rooms: list[int]
    ) -> None:
        self.conn, self.id, self.type_id, self.rooms = conn, hotel_id, type_id, rooms

    async def book(self, room: int, *nights: date, status: str = "confirmed") -> uuid.UUID:
        res_id = uuid.uuid4()
        await self.conn.execute("INSERT INTO clients (id, name) VALUES (%s, 'Guest')", (res_id,))
        await self.conn.execute(
            "INSERT INTO reservations (id, hotel_id, reservation_client_id, check_in, check_out,"
            " number_of_people, status) VALUES (%s, %s, %s, %s, %s, 1, %s)",
            (res_id, self.id, res_id, min(nights), max(nights) + timedelta(days=1), status),
        )
        for night in nights:
            await self.conn.execute(
                "INSERT INTO reservation_details (hotel_id, reservation_id, date, room_id,"
                " number_of_people) VALUES (%s, %s, %s, %s, 1)",
                (self.id, res_id, night, room),
            )
        return res_id

    async def assign(
        self,
        nights: int,
        *,
        people: int = 1,
        exclude: uuid.UUID | None = None,
        preferred: list[int] | None = None,
    ) -> list[int] | None:
        cur = await self.conn.execute(
            query("api_booking_assign_rooms"),
            {
                "hotel_id": self.id,
                "room_type_id": self.type_id,
                "check_in": NIGHT,
                "check_out": NIGHT + timedelta(days=nights),
                "people": people,
                "exclude": exclude,
                "preferred": preferred or [],
            },
        )
        row = await cur.fetchone()
        assert row is not None
        rooms: list[int] | None = row[0]
        return rooms


@pytest.fixture
async def hotel(db_url: str) -> Any:
    hotel_id = await add_pms_hotel(db_url, "Rooms Test Hotel")
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT room_type_id, array_agg(id ORDER BY id) FROM rooms WHERE hotel_id = %s"
            " GROUP BY room_type_id ORDER BY room_type_id LIMIT 1",
            (hotel_id,),
        )
        row = await cur.fetchone()
        assert row is not None
        yield Hotel(conn, hotel_id, row[0], list(row[1]))


def night(i: int) -> date:
    return NIGHT + timedelta(days=i)


async def test_a_whole_stay_gets_one_room_by_preference_then_priority(hotel: Hotel) -> None:
    a, b, c = hotel.rooms
    assert await hotel.assign(3) == [a, a, a]  # no priorities: the lowest id
    await hotel.conn.execute(
        "UPDATE rooms SET assignment_priority = %s WHERE hotel_id = %s AND id = %s",
        (1, hotel.id, c),
    )
    assert await hotel.assign(3) == [c, c, c]  # the PMS's assignment priority first
    assert await hotel.assign(3, preferred=[b]) == [b, b, b]  # a preferred room before it
    await hotel.book(c, night(1))
    assert await hotel.assign(3) == [a, a, a]  # c is not free throughout any more
    assert await hotel.assign(3, preferred=[c, b]) == [b, b, b]


async def test_without_a_whole_stay_room_each_night_keeps_the_last_room_when_free(
    hotel: Hotel,
) -> None:
    a, b, c = hotel.rooms
    # a: free on nights 0-1; b: free on nights 1-2; c: never free.
    await hotel.book(a, night(2))
    await hotel.book(b, night(0))
    await hotel.book(c, night(0), night(1), night(2))
    # Night 1 has a and b free: a is kept from night 0, then b when a is taken.
    assert await hotel.assign(3) == [a, a, b]


async def test_a_full_night_gives_no_rooms_and_what_does_not_count(hotel: Hotel) -> None:
    a, b, c = hotel.rooms
    for room in (a, b):
        await hotel.book(room, night(1))
    mine = await hotel.book(c, night(0), night(1))
    assert await hotel.assign(2) is None
    # The booking being changed does not count against itself.
    assert await hotel.assign(2, exclude=mine) == [c, c]
    # Nor does a cancelled reservation, nor a night marked cancelled.
    await hotel.conn.execute(
        "UPDATE reservations SET status = 'cancelled' WHERE hotel_id = %s AND id = %s",
        (hotel.id, mine),
    )
    assert await hotel.assign(2) == [c, c]
    await hotel.conn.execute(
        "UPDATE reservation_details SET cancelled = reservation_id"
        " WHERE hotel_id = %s AND room_id = %s",
        (hotel.id, a),
    )
    assert await hotel.assign(2) == [a, a]


async def test_rooms_too_small_for_the_guests_are_not_given(hotel: Hotel) -> None:
    a, b, _ = hotel.rooms
    await hotel.conn.execute(
        "UPDATE rooms SET capacity = CASE id WHEN %s THEN 4 ELSE 2 END WHERE hotel_id = %s",
        (b, hotel.id),
    )
    assert await hotel.assign(2, people=3) == [b, b]
    await hotel.book(b, night(1))
    assert await hotel.assign(2, people=3) is None
    assert await hotel.assign(2, people=2) == [a, a]


@pytest.mark.parametrize("plan_type", ["per_room", "per_person"])
async def test_stay_prices_are_the_projectors_nightly_prices(db_url: str, plan_type: str) -> None:
    """The seed's first plan of hotel 1 over nights with and without a rate: each night costs
    the price the projector computes for it (0 without one), per guest on a per-person plan."""
    check_in, guests = date.today() + timedelta(days=20), 3
    check_out = check_in + timedelta(days=6)
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT id FROM plans_hotel WHERE hotel_id = 1 ORDER BY display_order, id LIMIT 1"
        )
        plan = await cur.fetchone()
        assert plan is not None
        plan_id = plan[0]
        await conn.execute(
            "UPDATE plans_hotel SET plan_type = %s WHERE hotel_id = 1 AND id = %s",
            (plan_type, plan_id),
        )
        # The plan's rates stop after the second night: the rest has no price.
        await conn.execute(
            "UPDATE plans_rates SET date_end = %s WHERE hotel_id = 1 AND plans_hotel_id = %s",
            (check_in + timedelta(days=1), plan_id),
        )
        cur = await conn.execute(
            query("prices_recompute"),
            {
                "everything": False,
                "hotel_ids": [1],
                "global_ids": [],
                "lo": check_in,
                "hi": check_out - timedelta(days=1),
            },
        )
        nightly = {row[5]: row[6] for row in await cur.fetchall() if row[1] == plan_id}
        cur = await conn.execute(
            query("api_booking_stay_prices"),
            {
                "hotel_id": 1,
                "plan_id": plan_id,
                "plan_type": plan_type,
                "check_in": check_in,
                "check_out": check_out,
                "people": guests,
            },
        )
        prices = (await cur.fetchone() or [None])[0]
        cur = await conn.execute(
            query("api_booking_stay_prices"),
            {
                "hotel_id": 1,
                "plan_id": None,
                "plan_type": None,
                "check_in": check_in,
                "check_out": check_out,
                "people": guests,
            },
        )
        without_plan = (await cur.fetchone() or [None])[0]
    factor = guests if plan_type == "per_person" else 1
    expected = [nightly.get(check_in + timedelta(days=i), Decimal(0)) * factor for i in range(6)]
    assert all(p > 0 for p in expected[:2]) and expected[2:] == [0] * 4
    assert prices == expected
    assert without_plan == [0] * 6
