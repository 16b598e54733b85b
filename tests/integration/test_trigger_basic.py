"""A reservation written by plain SQL reaches the cache and booking_sync_status."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta

import psycopg

from bridge.cache.base import Cache
from bridge.config import Settings
from bridge.service import horizon
from bridge.snapshot import rebuild_availability
from tests.helpers import cached, run_once, truth


async def book(url: str, hotel_id: int, room_id: int, night: date, nights: int = 1) -> uuid.UUID:
    reservation_id = uuid.uuid4()
    async with await psycopg.AsyncConnection.connect(url) as conn:
        client = await (await conn.execute("SELECT id FROM clients LIMIT 1")).fetchone()
        assert client is not None
        await conn.execute(
            "INSERT INTO reservations (id, hotel_id, reservation_client_id, check_in, check_out,"
            " number_of_people, status) VALUES (%s, %s, %s, %s, %s, 1, 'confirmed')",
            (reservation_id, hotel_id, client[0], night, night + timedelta(days=nights)),
        )
        for n in range(nights):
            await conn.execute(
                "INSERT INTO reservation_details (hotel_id, reservation_id, date, room_id,"
                " number_of_people) VALUES (%s, %s, %s, %s, 1)",
                (hotel_id, reservation_id, night + timedelta(days=n), room_id),
            )
    return reservation_id


async def free_room(url: str, hotel_id: int, night: date) -> tuple[int, int]:
    """A sellable room free on `night`, with its room type."""
    async with await psycopg.AsyncConnection.connect(url) as conn:
        row = await (
            await conn.execute(
                "SELECT r.id, r.room_type_id FROM rooms r WHERE r.hotel_id = %s AND r.for_sale"
                " AND NOT r.is_staff_room AND NOT EXISTS (SELECT 1 FROM reservation_details d"
                " WHERE d.hotel_id = r.hotel_id AND d.room_id = r.id AND d.date = %s)"
                " ORDER BY r.id LIMIT 1",
                (hotel_id, night),
            )
        ).fetchone()
    assert row is not None
    return row[0], row[1]


async def test_inserted_reservation_reaches_cache_and_sync_table(
    settings: Settings, cache: Cache
) -> None:
    url = settings.database_url
    assert url is not None
    async with await psycopg.AsyncConnection.connect(url) as conn:
        await rebuild_availability(conn, cache, horizon(settings))
    night = date.today() + timedelta(days=10)
    room_id, room_type_id = await free_room(url, 1, night)
    before = {
        e.room_type_id: e for e in await cache.get_availability(1, night, night + timedelta(days=1))
    }

    reservation_id = await book(url, 1, room_id, night)
    await run_once(settings, cache)

    after = {
        e.room_type_id: e for e in await cache.get_availability(1, night, night + timedelta(days=1))
    }
    assert after[room_type_id].available == before[room_type_id].available - 1
    assert after[room_type_id].taken == before[room_type_id].taken + 1
    assert await cached(cache) == await truth(url, settings)
    async with await psycopg.AsyncConnection.connect(url) as conn:
        row = await (
            await conn.execute(
                "SELECT sync_status, last_change_op FROM booking_sync_status"
                " WHERE hotel_id = 1 AND booking_id = %s",
                (reservation_id,),
            )
        ).fetchone()
        assert row == ("pending", "insert")
        outbox = await (await conn.execute("SELECT count(*) FROM pms_bridge.outbox")).fetchone()
        assert outbox == (0,)


async def test_install_follows_the_watched_set(db_url: str) -> None:
    from bridge.capture import install as capture

    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        assert "clients" in await capture.installed(conn)
        await capture.install(conn, ["hotels", "rooms"])
        assert await capture.installed(conn) == {"hotels", "rooms"}
        await capture.remove(conn, ["hotels", "rooms"])
        assert await capture.installed(conn) == set()


async def test_redis_cache_takes_a_burst_wider_than_its_pool(redis_cache: Cache) -> None:
    from bridge.cache.base import Availability

    night = date.today()
    await redis_cache.put_availability([Availability(9, 9, night, 3, 1, 2, 0, 0.0)])
    reads = await asyncio.gather(
        *(redis_cache.get_availability(9, night, night + timedelta(days=30)) for _ in range(300))
    )
    assert all(len(r) == 1 and r[0].available == 2 for r in reads)
