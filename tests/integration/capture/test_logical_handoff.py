"""Snapshot hand-off: writes racing the slot creation are in the snapshot or the stream, once."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import msgspec
import psycopg

from bridge.cache.memory import MemoryCache
from bridge.capture.logical import LogicalSource
from bridge.config import Settings
from bridge.pipeline import AvailabilityStage, Bridge, SyncStatusStage
from bridge.service import horizon
from bridge.snapshot import rebuild_availability
from tests.support.logical import Recorder
from tests.support.pipeline import cached, drain, truth
from tests.support.writers import Writers


async def test_writes_racing_the_slot_creation_are_neither_lost_nor_counted_twice(
    settings: Settings,
) -> None:
    settings = msgspec.structs.replace(settings, capture="logical")
    url = settings.database_url
    assert url is not None
    cache = MemoryCache()
    in_snapshot: set[uuid.UUID] = set()

    async def hand_off(conn: psycopg.AsyncConnection[Any]) -> None:
        cur = await conn.execute("SELECT id FROM reservations")
        in_snapshot.update(row[0] for row in await cur.fetchall())
        await rebuild_availability(conn, cache, horizon(settings))

    recorder = Recorder()
    source = LogicalSource(url, settings, on_snapshot=hand_off)
    stages = [AvailabilityStage(cache, horizon(settings)), SyncStatusStage(), recorder]
    bridge = Bridge(url, source, stages)
    writers = Writers(url, workers=3)
    writing = asyncio.create_task(writers.run(target=3000))
    deadline = time.monotonic() + 60
    while writers.transactions < 30:
        assert not writing.done() and time.monotonic() < deadline, "writers did not start"
        await asyncio.sleep(0.01)

    await bridge._open(asyncio.Event())  # creates the slot while the writers commit
    started_at = writers.transactions
    try:
        while not writing.done():
            await bridge.step()
    finally:
        await bridge._close()
    await writing
    await drain(bridge, settings)

    assert source.snapshot_taken is not None
    assert writers.transactions > started_at  # the race happened: writes before and after
    streamed = {
        c.new["id"]
        for c in recorder.changes
        if c.table == "reservations" and c.op == "insert" and c.new is not None
    }
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute("SELECT id FROM reservations")
        everything = {row[0] for row in await cur.fetchall()}
    assert streamed and in_snapshot
    assert not streamed & in_snapshot  # nothing counted twice
    assert everything == in_snapshot | streamed  # nothing lost
    assert bridge.parked == 0
    assert await cached(cache) == await truth(url, settings)
