"""A reservation written by plain SQL reaches the cache and booking_sync_status."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import psycopg

from bridge.cache.base import Cache
from bridge.config import Settings
from bridge.service import horizon
from bridge.snapshot import rebuild_availability
from tests.support.capture import book, free_room
from tests.support.pipeline import cached, run_once, truth


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
