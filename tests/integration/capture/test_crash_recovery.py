"""The bridge survives kill -9, a PostgreSQL restart and SIGTERM, losing and doubling nothing."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import uuid
from datetime import date, timedelta
from pathlib import Path

import msgspec
import psycopg
import pytest

from bridge.cache.memory import MemoryCache
from bridge.cache.redis import RedisCache
from bridge.config import Settings
from bridge.embedded import PostgresCluster, RedisServer
from bridge.service import build_bridge, horizon
from bridge.snapshot import rebuild_availability
from metrics.definitions import REGISTRY
from tests.support.capture import book, free_room, running, sync_rows
from tests.support.pipeline import cached, drain, outbox_size, truth
from tests.support.processes import applied_count, spawn_bridge, stop_process, wait_for
from tests.support.writers import Writers


async def parked_count(url: str) -> int:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        row = await (
            await conn.execute("SELECT count(*) FROM pms_bridge.parked_changes")
        ).fetchone()
        return int(row[0]) if row else 0


def source_errors() -> float:
    """Connection losses the bridge recovered from, over all kinds."""
    return sum(
        sample.value
        for metric in REGISTRY.collect()
        if metric.name == "pms_bridge_source_errors"
        for sample in metric.samples
        if sample.name.endswith("_total")
    )


async def test_kill_9_mid_stream_then_restart_loses_and_doubles_nothing(
    settings: Settings, capture_mode: str, redis_cache: RedisCache, tmp_path: Path
) -> None:
    settings = msgspec.structs.replace(settings, capture=capture_mode, batch_size=200)
    url = settings.database_url
    assert url is not None
    async with await psycopg.AsyncConnection.connect(url) as conn:
        await rebuild_availability(conn, redis_cache, horizon(settings))
    if capture_mode == "logical":
        # Create the slot before the first write, as `run` would on its first start.
        await drain(build_bridge(settings, MemoryCache())[0], settings)
    log = tmp_path / "bridge.log"
    writers = Writers(url, workers=3)
    writing = asyncio.create_task(writers.run(target=6_000))

    proc = spawn_bridge(settings, log)
    try:

        async def mid_stream() -> bool:
            return await applied_count(url) > 0 and writers.changes > 1_000

        await wait_for(mid_stream, "the bridge to apply its first batches")
        proc.kill()
        await asyncio.to_thread(proc.wait, 30)
        assert proc.returncode == -signal.SIGKILL
        at_kill = writers.changes

        async def written_while_down() -> bool:
            return writers.changes > at_kill + 500 or writing.done()

        await wait_for(written_while_down, "writes while the bridge is down")
        proc = spawn_bridge(settings, log)
        await writing

        async def caught_up() -> bool:
            return await applied_count(url) >= writers.changes

        await wait_for(caught_up, "the restarted bridge to catch up")
        assert await stop_process(proc) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    if capture_mode == "trigger":
        # The checkpoint's counter commits with the effects: a replayed batch is not counted.
        assert await applied_count(url) == writers.changes
        assert await outbox_size(url) == 0
    assert await parked_count(url) == 0
    assert await cached(redis_cache) == await truth(url, settings)
    assert await sync_rows(url) == writers.touched


async def test_postgresql_restart_mid_stream_reconnects_and_loses_nothing(
    capture_mode: str,
    own_cluster: PostgresCluster,
    own_db_url: str,
    redis_url: str,
) -> None:
    base = Settings(database_url=own_db_url, redis_url=redis_url, poll_interval=0.1, batch_size=200)
    settings = msgspec.structs.replace(base, capture=capture_mode)
    url = own_db_url
    cache = MemoryCache()
    async with await psycopg.AsyncConnection.connect(url) as conn:
        await rebuild_availability(conn, cache, horizon(settings))
    bridge, _ = build_bridge(settings, cache)
    errors = source_errors()
    writers = Writers(url, workers=3)

    async with running(bridge):
        writing = asyncio.create_task(writers.run(target=4_000))

        async def mid_stream() -> bool:
            return bridge.applied > 0 and writers.changes > 1_000

        await wait_for(mid_stream, "the bridge to apply its first batches")
        await asyncio.to_thread(own_cluster.restart)
        await writing

        async def caught_up() -> bool:
            return bridge.connected and bridge.applied >= writers.changes

        await wait_for(caught_up, "the bridge to reconnect and catch up")
        if capture_mode == "trigger":

            async def outbox_empty() -> bool:
                return await outbox_size(url) == 0

            await wait_for(outbox_empty, "the outbox to empty")

    after = source_errors()
    assert after > errors, "the bridge never saw the server go away"
    assert await parked_count(url) == 0
    assert await cached(cache) == await truth(url, settings)
    # A commit cut off by the restart may or may not have happened; every known one arrived.
    assert writers.touched <= await sync_rows(url)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
async def test_stop_signal_finishes_the_batch_in_hand_and_exits_0(
    settings: Settings, redis_url: str, tmp_path: Path, stop_signal: signal.Signals
) -> None:
    settings = msgspec.structs.replace(settings, capture="trigger")
    url = settings.database_url
    assert url is not None
    night = date.today() + timedelta(days=12)
    room_id, _ = await free_room(url, 1, night)
    reservation_id: uuid.UUID = await book(url, 1, room_id, night)
    await drain(build_bridge(settings, MemoryCache())[0], settings)

    blocker = await psycopg.AsyncConnection.connect(url)
    proc: subprocess.Popen[bytes] | None = None
    try:
        # Hold the booking's sync row so the bridge's next batch blocks half-way through.
        await blocker.execute(
            "SELECT 1 FROM booking_sync_status WHERE hotel_id = 1 AND booking_id = %s FOR UPDATE",
            (reservation_id,),
        )
        async with await psycopg.AsyncConnection.connect(url) as conn:
            await conn.execute(
                "UPDATE reservations SET status = 'cancelled' WHERE hotel_id = 1 AND id = %s",
                (reservation_id,),
            )
        proc = spawn_bridge(settings, tmp_path / "bridge.log")

        async def bridge_blocked() -> bool:
            async with await psycopg.AsyncConnection.connect(url) as conn:
                cur = await conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pms-bridge'"
                    " AND wait_event_type = 'Lock'"
                )
                row = await cur.fetchone()
                return bool(row and row[0])

        await wait_for(bridge_blocked, "the bridge to block inside its batch")
        proc.send_signal(stop_signal)
        await blocker.rollback()
        assert await asyncio.to_thread(proc.wait, 60) == 0
    finally:
        await blocker.close()
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    assert await outbox_size(url) == 0
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute(
            "SELECT last_change_op FROM booking_sync_status WHERE hotel_id = 1 AND booking_id = %s",
            (reservation_id,),
        )
        assert await cur.fetchone() == ("update",)
    cache = RedisCache(redis_url, settings.redis_prefix)
    try:
        night_entries = await cache.get_availability(1, night, night + timedelta(days=1))
    finally:
        await cache.clear()
        await cache.close()
    expected = await truth(url, settings)
    assert night_entries
    assert all(
        (e.sellable, e.taken, e.available) == expected[(1, e.room_type_id, night)]
        for e in night_entries
    )
    assert "Traceback" not in (tmp_path / "bridge.log").read_text()


async def test_redis_outage_mid_stream_is_waited_out(settings: Settings, tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis")
    server.start()
    settings = msgspec.structs.replace(settings, capture="trigger", redis_url=server.url)
    url = settings.database_url
    assert url is not None
    cache = RedisCache(server.url, settings.redis_prefix)
    bridge, _ = build_bridge(settings, cache)
    night = date.today() + timedelta(days=8)
    errors = source_errors()
    try:
        async with running(bridge):
            server.stop()
            room_id, room_type_id = await free_room(url, 1, night)
            reservation_id = await book(url, 1, room_id, night)

            async def noticed() -> bool:
                return source_errors() > errors

            await wait_for(noticed, "the bridge to meet the Redis outage")
            # The same port again, empty: no persistence, as in the tests' Redis.
            server = RedisServer(tmp_path / "redis", port=server.port)
            server.start()

            async def synced() -> bool:
                return (1, reservation_id) in await sync_rows(url)

            await wait_for(synced, "the change to arrive once Redis is back")
            assert bridge.connected
        entry = await cache.get_availability(1, night, night + timedelta(days=1), room_type_id)
        expected = (await truth(url, settings))[(1, room_type_id, night)]
        assert [(e.sellable, e.taken, e.available) for e in entry] == [expected]
        assert await outbox_size(url) == 0
    finally:
        await cache.close()
        server.stop()
