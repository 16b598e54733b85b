"""Every committed change reaches the cache and booking_sync_status, whatever the commit order."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

import msgspec
import psycopg

from bridge.cache.memory import MemoryCache
from bridge.config import Settings
from bridge.pipeline import Bridge
from bridge.service import build_bridge, horizon
from bridge.snapshot import rebuild_availability
from tests.support.capture import running, sync_rows
from tests.support.pipeline import cached, drain, outbox_size, truth
from tests.support.writers import Writers


async def snapshot(url: str, settings: Settings, cache: MemoryCache) -> None:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        await rebuild_availability(conn, cache, horizon(settings))


async def test_concurrent_writers_all_reach_cache_and_sync_table(
    settings: Settings, capture_mode: str
) -> None:
    settings = msgspec.structs.replace(settings, capture=capture_mode)
    url = settings.database_url
    assert url is not None
    cache = MemoryCache()
    await snapshot(url, settings, cache)
    bridge, _ = build_bridge(settings, cache)
    writers = Writers(url, workers=4)

    async with running(bridge):
        await writers.run(target=10_000)
    await drain(bridge, settings)

    assert writers.changes >= 10_000
    # Each committed change applied exactly once: nothing lost, nothing counted twice.
    assert bridge.applied == writers.changes
    assert bridge.parked == 0
    assert await cached(cache) == await truth(url, settings)
    assert await sync_rows(url) == writers.touched


async def _book_in(conn: psycopg.AsyncConnection[Any], hotel_id: int, night: date) -> uuid.UUID:
    """One confirmed night in a free sellable room, inside the caller's open transaction."""
    cur = await conn.execute(
        "SELECT r.id FROM rooms r WHERE r.hotel_id = %s AND r.for_sale AND NOT r.is_staff_room"
        " AND NOT EXISTS (SELECT 1 FROM reservation_details d WHERE d.hotel_id = r.hotel_id"
        " AND d.room_id = r.id AND d.date = %s) ORDER BY r.id LIMIT 1",
        (hotel_id, night),
    )
    room = await cur.fetchone()
    assert room is not None
    client = await (await conn.execute("SELECT id FROM clients LIMIT 1")).fetchone()
    assert client is not None
    reservation_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO reservations (id, hotel_id, reservation_client_id, check_in, check_out,"
        " number_of_people, status) VALUES (%s, %s, %s, %s, %s, 1, 'confirmed')",
        (reservation_id, hotel_id, client[0], night, night + timedelta(days=1)),
    )
    await conn.execute(
        "INSERT INTO reservation_details (hotel_id, reservation_id, date, room_id,"
        " number_of_people) VALUES (%s, %s, %s, %s, 1)",
        (hotel_id, reservation_id, night, room[0]),
    )
    return reservation_id


async def _own_outbox_ids(conn: psycopg.AsyncConnection[Any]) -> list[int]:
    """The outbox ids this (still open) transaction took; only it can see them yet."""
    cur = await conn.execute(
        "SELECT id FROM pms_bridge.outbox WHERE txid = pg_current_xact_id() ORDER BY id"
    )
    return [row[0] for row in await cur.fetchall()]


async def _step_until(bridge: Bridge, done: Callable[[], Awaitable[bool]], steps: int = 50) -> None:
    """Step the bridge until `done()` (awaitable) holds; a bound on steps, not on time."""
    for _ in range(steps):
        if await done():
            return
        await bridge.step()
    assert await done()


async def test_transaction_committing_after_a_higher_outbox_id_is_not_skipped(
    settings: Settings, capture_mode: str
) -> None:
    settings = msgspec.structs.replace(settings, capture=capture_mode)
    url = settings.database_url
    assert url is not None
    cache = MemoryCache()
    await snapshot(url, settings, cache)
    bridge, _ = build_bridge(settings, cache)
    night = date.today() + timedelta(days=20)
    stop = asyncio.Event()
    await bridge._open(stop)
    t1 = await psycopg.AsyncConnection.connect(url)
    t2 = await psycopg.AsyncConnection.connect(url)
    try:
        # T1 takes the lower outbox ids and stays open.
        first = await _book_in(t1, 1, night)
        t1_ids = await _own_outbox_ids(t1)
        # T2 takes higher ids, commits, and the bridge consumes it while T1 is in flight.
        second = await _book_in(t2, 2, night)
        t2_ids = await _own_outbox_ids(t2)
        await t2.commit()
        if capture_mode == "trigger":
            assert t1_ids and t2_ids and max(t1_ids) < min(t2_ids)

        async def second_synced() -> bool:
            return (2, second) in await sync_rows(url)

        await _step_until(bridge, second_synced)
        assert (1, first) not in await sync_rows(url)

        await t1.commit()

        async def both_synced() -> bool:
            return {(1, first), (2, second)} <= await sync_rows(url)

        await _step_until(bridge, both_synced)
        assert await cached(cache) == await truth(url, settings)
        if capture_mode == "trigger":
            assert await outbox_size(url) == 0
    finally:
        await t1.close()
        await t2.close()
        await bridge._close()


async def test_a_lost_notification_costs_a_poll_not_a_change(settings: Settings) -> None:
    settings = msgspec.structs.replace(settings, capture="trigger", poll_interval=0.2)
    url = settings.database_url
    assert url is not None
    cache = MemoryCache()
    bridge, _ = build_bridge(settings, cache)
    await bridge._open(asyncio.Event())
    try:
        # The source stops hearing NOTIFY, as if every notification were lost.
        source_conn = getattr(bridge.source, "_conn", None)
        assert source_conn is not None
        await source_conn.execute("UNLISTEN *")
        async with await psycopg.AsyncConnection.connect(url) as conn:
            booked = await _book_in(conn, 1, date.today() + timedelta(days=25))
            await conn.commit()

        async def synced() -> bool:
            return (1, booked) in await sync_rows(url)

        await _step_until(bridge, synced, steps=10)
        assert bridge.applied == 2
        assert await outbox_size(url) == 0
    finally:
        await bridge._close()
