"""Heartbeats come back through capture and apply in both modes, never as a change; in
logical mode they move the slot past WAL that unwatched tables write."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import psycopg

from bridge import heartbeat
from bridge.cache.memory import MemoryCache
from bridge.capture.pgoutput import parse_lsn
from bridge.config import Settings
from bridge.pipeline import AvailabilityStage, Bridge, SyncStatusStage
from bridge.service import build_source, horizon
from metrics.definitions import REGISTRY
from tests.support.logical import Recorder

STEPS = 600


def round_trips() -> float:
    return REGISTRY.get_sample_value("pms_bridge_heartbeat_round_trip_seconds_count") or 0.0


def bridge_for(settings: Settings, recorder: Recorder, interval: float) -> Bridge:
    assert settings.database_url is not None
    cache = MemoryCache()
    stages = [AvailabilityStage(cache, horizon(settings)), SyncStatusStage(), recorder]
    return Bridge(
        settings.database_url,
        build_source(settings, cache),
        stages,
        heartbeat_interval=interval,
    )


async def steps_until_seen(bridge: Bridge, count: int) -> None:
    """Step until `count` heartbeats came back; a bound on steps, not on time."""
    for _ in range(STEPS):
        if bridge.heartbeats.seen >= count:
            return
        await bridge.step()
    raise AssertionError(f"{bridge.heartbeats.seen} heartbeats seen back, {count} expected")


async def test_heartbeat_comes_back_through_the_pipeline(
    settings: Settings, capture_mode: str
) -> None:
    settings = msgspec.structs.replace(settings, capture=capture_mode)
    url = settings.database_url
    assert url is not None
    recorder = Recorder()
    bridge = bridge_for(settings, recorder, 0.2)
    before = round_trips()
    await bridge._open(_never())
    try:
        await steps_until_seen(bridge, 3)
        age = bridge.heartbeats.age()
    finally:
        await bridge._close()

    assert round_trips() - before >= 3
    assert age is not None
    assert REGISTRY.get_sample_value("pms_bridge_heartbeat_age_seconds") == age
    # Not a change: no projector saw it, nothing was parked.
    assert not [c for c in recorder.changes if c.table == heartbeat.PREFIX]
    assert bridge.parked == 0 and bridge.applied == 0
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute("SELECT count(*) FROM pms_bridge.parked_changes")
        assert await cur.fetchone() == (0,)
        cur = await conn.execute(
            "SELECT last_captured_at FROM pms_bridge.checkpoint WHERE consumer = %s",
            (bridge.consumer,),
        )
        row = await cur.fetchone()
        # The heartbeat's commit time is the checkpoint's: everything before it was captured.
        assert row is not None and row[0] is not None
        if capture_mode == "trigger":
            cur = await conn.execute(
                "SELECT count(*) FROM pms_bridge.outbox WHERE table_name = %s", (heartbeat.PREFIX,)
            )
            # At most the one written by the last step, not yet read back.
            count = await cur.fetchone()
            assert count is not None and count[0] <= 1


async def test_heartbeats_move_the_slot_past_unwatched_writes(settings: Settings) -> None:
    settings = msgspec.structs.replace(settings, capture="logical")
    url = settings.database_url
    assert url is not None
    bridge = bridge_for(settings, Recorder(), 0.2)
    await bridge._open(_never())
    try:
        await steps_until_seen(bridge, 1)
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await conn.execute("CREATE TABLE ballast (id bigserial PRIMARY KEY, pad text)")
            start = await _lsn(conn, "SELECT pg_current_wal_lsn()::text")
            # About 100 MB of WAL in tables the publication does not hold, watched tables idle.
            for _ in range(10):
                await conn.execute(
                    "INSERT INTO ballast (pad) SELECT repeat(md5(g::text), 32)"
                    " FROM generate_series(1, 10000) AS g"
                )
            end = await _lsn(conn, "SELECT pg_current_wal_lsn()::text")
            assert end - start >= 90 * 1024 * 1024
            seen = bridge.heartbeats.seen
            await steps_until_seen(bridge, seen + 2)  # written after the ballast
            confirmed = await _lsn(
                conn,
                "SELECT confirmed_flush_lsn::text FROM pg_replication_slots"
                " WHERE slot_name = %(slot)s",
                settings.slot_name,
            )
            assert confirmed >= end  # the slot moved past all of it
            # The slot's restart position follows at the next running-transactions record.
            await conn.execute("CHECKPOINT")
            seen = bridge.heartbeats.seen
            await steps_until_seen(bridge, seen + 2)
            for _ in range(STEPS):
                retained = await _lsn(
                    conn,
                    "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint::text"
                    " FROM pg_replication_slots WHERE slot_name = %(slot)s",
                    settings.slot_name,
                    plain=True,
                )
                if retained < (end - start) // 4:
                    break
                await bridge.step()
            assert retained < (end - start) // 4  # retained WAL is bounded
    finally:
        await bridge._close()


def _never() -> asyncio.Event:
    return asyncio.Event()


async def _lsn(
    conn: psycopg.AsyncConnection[Any], statement: str, slot: str = "", *, plain: bool = False
) -> int:
    cur = await conn.execute(statement.encode(), {"slot": slot} if slot else None)
    row = await cur.fetchone()
    assert row is not None and row[0] is not None
    return int(row[0]) if plain else parse_lsn(row[0])
