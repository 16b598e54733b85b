"""The booking's server-side pieces: which room a stay gets, and what each night costs."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from bridge.sql import query
from tests.support.pipeline import add_pms_hotel

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
        preferred: int | None = None,
    ) -> int | None:
        """The one room free for every night of a stay of `nights` from NIGHT, or None."""
        cur = await self.conn.execute(
            query("api_booking_free_room"),
            {
                "hotel_id": self.id,
                "room_type_id": self.type_id,
                "check_in": NIGHT,
                "check_out": NIGHT + timedelta(days=nights),
                "people": people,
                "exclude": exclude,
                "preferred": preferred,
            },
        )
        row = await cur.fetchone()
        assert row is not None
        room: int | None = row[0]
        return room


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
    assert await hotel.assign(3) == a  # no priorities, one capacity: the lowest id
    await hotel.conn.execute(
        "UPDATE rooms SET assignment_priority = %s WHERE hotel_id = %s AND id = %s",
        (1, hotel.id, c),
    )
    assert await hotel.assign(3) == c  # the PMS's assignment priority first
    assert await hotel.assign(3, preferred=b) == b  # the guest's own room before it
    await hotel.book(c, night(1))
    assert await hotel.assign(3) == a  # c is not free throughout any more
    assert await hotel.assign(3, preferred=c) == a


async def test_no_single_room_for_the_whole_stay_gives_none(hotel: Hotel) -> None:
    """Every night has a free room, but no room is free on all of them: the PMS never moves a
    guest between rooms, so there is nothing to give."""
    a, b, c = hotel.rooms
    await hotel.book(a, night(2))
    await hotel.book(b, night(0))
    await hotel.book(c, night(1))
    assert await hotel.assign(3) is None
    assert await hotel.assign(1) == a


async def test_a_night_is_taken_by_its_row_whatever_the_reservations_status(hotel: Hotel) -> None:
    a, b, c = hotel.rooms
    for room in (a, b):
        await hotel.book(room, night(1))
    mine = await hotel.book(c, night(0), night(1))
    assert await hotel.assign(2) is None
    # The booking being changed does not count against itself.
    assert await hotel.assign(2, exclude=mine) == c
    # A reservation marked cancelled whose nights are not still takes them (the PMS's rule).
    await hotel.conn.execute(
        "UPDATE reservations SET status = 'cancelled' WHERE hotel_id = %s AND id = %s",
        (hotel.id, mine),
    )
    assert await hotel.assign(2) is None
    # A night marked cancelled frees its room.
    await hotel.conn.execute(
        "UPDATE reservation_details SET cancelled = reservation_id"
        " WHERE hotel_id = %s AND room_id = %s",
        (hotel.id, a),
    )
    assert await hotel.assign(2) == a


async def test_rooms_too_small_for_the_guests_are_not_given(hotel: Hotel) -> None:
    a, b, _ = hotel.rooms
    await hotel.conn.execute(
        "UPDATE rooms SET capacity = CASE id WHEN %s THEN 4 ELSE 2 END WHERE hotel_id = %s",
        (b, hotel.id),
    )
    assert await hotel.assign(2, people=3) == b
    await hotel.book(b, night(1))
    assert await hotel.assign(2, people=3) is None
    assert await hotel.assign(2, people=2) == a


@pytest.mark.parametrize("plan_type", ["per_room", "per_person"])
async def test_stay_prices_are_the_projectors_nightly_prices(db_url: str, plan_type: str) -> None:
    """The seed's first plan of hotel 1 over nights with and without a rate: each night costs
    the price the projector caches for it (the price of one guest on a per-person plan), and
    a night without a rate has none."""
    check_in = date.today() + timedelta(days=20)
    check_out = check_in + timedelta(days=6)
    async with await psycopg.AsyncConnection.connect(
        db_url, autocommit=True, row_factory=dict_row
    ) as conn:
        cur = await conn.execute(
            "SELECT id, plans_global_id FROM plans_hotel WHERE hotel_id = 1"
            " ORDER BY display_order, id LIMIT 1"
        )
        plan = await cur.fetchone()
        assert plan is not None
        await conn.execute(
            "UPDATE plans_hotel SET plan_type = %s WHERE hotel_id = 1 AND id = %s",
            (plan_type, plan["id"]),
        )
        # The plan's rates stop after the second night: the rest has no price.
        await conn.execute(
            "UPDATE plans_rates SET date_end = %s WHERE plans_hotel_id = %s"
            " OR plans_global_id = %s",
            (check_in + timedelta(days=1), plan["id"], plan["plans_global_id"]),
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
        nightly = {
            r["night"]: r["price"] for r in await cur.fetchall() if r["plan_id"] == plan["id"]
        }
        cur = await conn.execute(
            query("api_booking_unpriced_nights"),
            {
                "hotel_id": 1,
                "plans_global_id": plan["plans_global_id"],
                "plan_id": plan["id"],
                "check_in": check_in,
                "check_out": check_out,
            },
        )
        unpriced = [r["night"] for r in await cur.fetchall()]
        cur = await conn.execute(
            "SELECT night, price FROM pms_bridge.api_stay_prices(1, %s, %s, %s, %s)",
            (plan["plans_global_id"], plan["id"], check_in, check_out),
        )
        prices = {r["night"]: r["price"] for r in await cur.fetchall()}
    nights = [check_in + timedelta(days=i) for i in range(6)]
    assert all(nightly[n] > 0 for n in nights[:2]) and set(nightly) == set(nights[:2])
    assert prices == {n: nightly.get(n) for n in nights}
    assert unpriced == nights[2:]
