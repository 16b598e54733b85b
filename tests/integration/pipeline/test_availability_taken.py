"""A room is taken on a night by a detail row with `cancelled IS NULL`, whatever its
reservation's status, as the PMS counts its stock: in every recompute plan, and in the cache
the bridge keeps from captured changes."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import msgspec
import psycopg
import pytest
from psycopg.rows import dict_row

from bridge.cache.base import Availability, Cache
from bridge.cache.memory import MemoryCache
from bridge.config import Settings
from bridge.horizon import Horizon
from bridge.projectors.availability import AvailabilityDirty
from bridge.service import build_bridge, horizon
from bridge.sinks.availability import recompute_params
from bridge.snapshot import rebuild_availability
from bridge.sql import query
from tests.support.pipeline import cached, drain, truth

# reservations.status as the PMS's CHECK constraint allows it.
STATUSES = ("hold", "provisory", "confirmed", "checked_in", "checked_out", "cancelled", "block")
PLANS = ("availability_recompute", "availability_recompute_bulk", "availability_recompute_range")
NIGHT = date.today() + timedelta(days=15)


def free_rooms(conn: psycopg.Connection[Any], hotel_id: int, night: date) -> list[dict[str, Any]]:
    """Sellable rooms no detail row of any kind names on `night`, with their room type."""
    cur = conn.cursor(row_factory=dict_row)
    cur.execute(
        "SELECT r.id, r.room_type_id FROM rooms r WHERE r.hotel_id = %s AND r.for_sale"
        " AND NOT r.is_staff_room AND NOT EXISTS (SELECT 1 FROM reservation_details d"
        " WHERE d.hotel_id = r.hotel_id AND d.room_id = r.id AND d.date = %s) ORDER BY r.id",
        (hotel_id, night),
    )
    return cur.fetchall()


def book(
    conn: psycopg.Connection[Any],
    hotel_id: int,
    room_id: int,
    night: date,
    *,
    status: str = "confirmed",
    cancelled: bool = False,
) -> uuid.UUID:
    """A one-night reservation in `status`, its night row cancelled (as the PMS marks it) or
    live; the caller commits."""
    reservation_id = uuid.uuid4()
    conn.execute(
        "INSERT INTO reservations (id, hotel_id, reservation_client_id, check_in, check_out,"
        " number_of_people, status)"
        " SELECT %s, %s, id, %s, %s, 1, %s FROM clients ORDER BY id LIMIT 1",
        (reservation_id, hotel_id, night, night + timedelta(days=1), status),
    )
    conn.execute(
        "INSERT INTO reservation_details (hotel_id, reservation_id, date, room_id,"
        " number_of_people, cancelled, billable)"
        " VALUES (%s, %s, %s, %s, 1, CASE WHEN %s THEN gen_random_uuid() END, NOT %s)",
        (hotel_id, reservation_id, night, room_id, cancelled, cancelled),
    )
    return reservation_id


def recomputed(
    conn: psycopg.Connection[Any], hotel_id: int, room_type_id: int, night: date
) -> list[dict[str, Any]]:
    """The key's row from each recompute plan, in PLANS order."""
    dirty = AvailabilityDirty(keys={(hotel_id, room_type_id, night)})
    params = recompute_params(dirty, dirty.room_types, Horizon())
    answers = []
    for name in PLANS:
        cur = conn.cursor(row_factory=dict_row)
        cur.execute(query(name), params)
        answers.append(cur.fetchall())
    return [row for rows in answers for row in rows]


@pytest.mark.parametrize("cancelled", [False, True], ids=["live-night", "cancelled-night"])
@pytest.mark.parametrize("status", STATUSES)
def test_a_night_takes_its_room_unless_the_night_is_cancelled_whatever_the_status(
    db_url: str, status: str, cancelled: bool
) -> None:
    with psycopg.connect(db_url) as conn:
        room = free_rooms(conn, 1, NIGHT)[0]
        before = recomputed(conn, 1, room["room_type_id"], NIGHT)
        assert len(before) == len(PLANS) and all(row == before[0] for row in before)
        with conn.transaction(force_rollback=True):
            book(conn, 1, room["id"], NIGHT, status=status, cancelled=cancelled)
            after = recomputed(conn, 1, room["room_type_id"], NIGHT)
    taken = 0 if cancelled else 1
    expected = {
        **before[0],
        "taken": before[0]["taken"] + taken,
        "available": before[0]["available"] - taken,
    }
    assert after == [expected] * len(PLANS)


async def entry(cache: Cache, hotel_id: int, room_type_id: int, night: date) -> Availability:
    found = await cache.get_availability(hotel_id, night, night + timedelta(days=1), room_type_id)
    assert len(found) == 1
    return found[0]


def counts(e: Availability) -> tuple[int, int, int, int]:
    return e.sellable, e.taken, e.available, e.overbooked


async def test_the_cache_follows_the_night_rows_not_the_status(
    settings: Settings, capture_mode: str
) -> None:
    settings = msgspec.structs.replace(settings, capture=capture_mode)
    url = settings.database_url
    assert url is not None
    cache = MemoryCache()
    async with await psycopg.AsyncConnection.connect(url) as conn:
        # The seed's bookings of the night out of the way: the rooms this test books are free.
        await conn.execute(
            "DELETE FROM reservation_details WHERE hotel_id = 1 AND date = %s", (NIGHT,)
        )
        await conn.commit()
        await rebuild_availability(conn, cache, horizon(settings))
    bridge, _ = build_bridge(settings, cache)
    await drain(bridge, settings)  # logical: the slot exists from here on

    with psycopg.connect(url) as conn:
        rooms = free_rooms(conn, 1, NIGHT)
        room_type_id = rooms[0]["room_type_id"]
        same_type = [r["id"] for r in rooms if r["room_type_id"] == room_type_id]
        assert len(same_type) >= 3
    start = counts(await entry(cache, 1, room_type_id, NIGHT))
    sellable, taken, available, overbooked = start

    def expect(booked: int) -> tuple[int, int, int, int]:
        return sellable, taken + booked, available - booked, overbooked

    with psycopg.connect(url) as conn:
        a = book(conn, 1, same_type[0], NIGHT)
        b = book(conn, 1, same_type[1], NIGHT)
        c = book(conn, 1, same_type[2], NIGHT)
    await drain(bridge, settings)
    assert counts(await entry(cache, 1, room_type_id, NIGHT)) == expect(3)

    # A status-only cancel leaves the night live: the PMS still counts the room taken.
    with psycopg.connect(url) as conn:
        conn.execute(
            "UPDATE reservations SET status = 'cancelled' WHERE hotel_id = 1 AND id = %s", (a,)
        )
    await drain(bridge, settings)
    assert counts(await entry(cache, 1, room_type_id, NIGHT)) == expect(3)

    # Cancelling the night frees the room: under the cancelled reservation, and under one
    # whose status still says confirmed.
    with psycopg.connect(url) as conn:
        conn.execute(
            "UPDATE reservation_details SET cancelled = gen_random_uuid(), billable = FALSE"
            " WHERE hotel_id = 1 AND reservation_id = ANY(%s)",
            ([a, b],),
        )
    await drain(bridge, settings)
    assert counts(await entry(cache, 1, room_type_id, NIGHT)) == expect(1)

    # Deleting a reservation deletes its nights by the foreign key's cascade, and frees them.
    with psycopg.connect(url) as conn:
        conn.execute("DELETE FROM reservations WHERE hotel_id = 1 AND id = %s", (c,))
    await drain(bridge, settings)
    assert counts(await entry(cache, 1, room_type_id, NIGHT)) == start
    assert await cached(cache) == await truth(url, settings)

    # Truncating reservations truncates their nights too: every night comes back free.
    with psycopg.connect(url) as conn:
        conn.execute("TRUNCATE reservations CASCADE")
    await drain(bridge, settings)
    assert counts(await entry(cache, 1, room_type_id, NIGHT)) == (sellable, 0, sellable, 0)
    after = await cached(cache)
    assert after == await truth(url, settings)
    assert all(v[1] == 0 for v in after.values())
