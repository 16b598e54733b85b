"""A slot lost while the bridge is down: one line, a metric, a new slot, caches rebuilt from
its snapshot, and the gap recorded from the last checkpoint's commit time."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgspec
import psycopg
import pytest

from bridge import checkpoint
from bridge.cache.memory import MemoryCache
from bridge.capture.logical import LogicalSource
from bridge.capture.slot import SlotLost
from bridge.config import Settings
from bridge.embedded import PostgresCluster
from bridge.pipeline import AvailabilityStage, Bridge, SyncStatusStage
from bridge.service import build_source, horizon
from metrics.definitions import REGISTRY
from tests.conftest import drop_slot
from tests.support.pipeline import cached, drain, truth
from tests.support.writers import Writers


def recreated(reason: str) -> float:
    value = REGISTRY.get_sample_value("pms_bridge_slot_recreated_total", {"reason": reason})
    return value or 0.0


STEPS = 600


async def invalidate(down: Down) -> None:
    """Makes the server invalidate the slot: no WAL kept for slots beyond the current
    segment, then several segments written and checkpointed. The setting is reset after."""
    async with await psycopg.AsyncConnection.connect(down.url, autocommit=True) as conn:
        await conn.execute("ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'")
        await conn.execute("SELECT pg_reload_conf()")
        try:
            await conn.execute("CREATE TABLE IF NOT EXISTS ballast (id bigserial, pad text)")
            for _ in range(50):
                found = await down.slot()
                if found is not None and found["wal_status"] == "lost":
                    break
                await conn.execute("INSERT INTO ballast (pad) VALUES ('x')")
                await conn.execute("SELECT pg_switch_wal()")
                await conn.execute("CHECKPOINT")
        finally:
            await conn.execute("ALTER SYSTEM RESET max_slot_wal_keep_size")
            await conn.execute("SELECT pg_reload_conf()")
    found = await down.slot()
    assert found is not None and found["wal_status"] == "lost", found


class Down:
    """A logical bridge started, drained and stopped; started again by `restart`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = msgspec.structs.replace(settings, capture="logical")
        assert self.settings.database_url is not None
        self.url = self.settings.database_url
        self.cache = MemoryCache()
        self.bridge = self._bridge()

    def _bridge(self) -> Bridge:
        stages = [AvailabilityStage(self.cache, horizon(self.settings)), SyncStatusStage()]
        return Bridge(self.url, build_source(self.settings, self.cache), stages)

    @property
    def source(self) -> LogicalSource:
        assert isinstance(self.bridge.source, LogicalSource)
        return self.bridge.source

    async def saved(self) -> checkpoint.Checkpoint:
        async with await psycopg.AsyncConnection.connect(self.url) as conn:
            found = await checkpoint.load(conn, self.bridge.consumer)
        assert found is not None
        return found

    async def write_while_down(self) -> None:
        writers = Writers(self.url, workers=1)
        await writers.run(target=60)  # rows changed: a few reservations booked and moved
        assert writers.touched
        # The writes moved availability: only a rebuild brings the cache back to the PMS.
        assert await cached(self.cache) != await truth(self.url, self.settings)

    async def restart(self) -> None:
        self.bridge = self._bridge()
        await drain(self.bridge, self.settings)

    async def slot(self) -> dict[str, Any] | None:
        async with await psycopg.AsyncConnection.connect(self.url) as conn:
            cur = await conn.execute(
                "SELECT wal_status, restart_lsn::text FROM pg_replication_slots"
                " WHERE slot_name = %s",
                (self.settings.slot_name,),
            )
            row = await cur.fetchone()
        return None if row is None else {"wal_status": row[0], "restart_lsn": row[1]}


async def test_first_start_makes_a_slot_without_a_gap(settings: Settings) -> None:
    down = Down(settings)
    before = recreated("missing") + recreated("lost")
    await drain(down.bridge, down.settings)
    assert await down.slot() is not None
    assert down.source.capture_gap_since is None and down.source.slot_recreated is None
    assert recreated("missing") + recreated("lost") == before


async def test_slot_dropped_while_down_is_made_anew_and_the_gap_recorded(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    down = Down(settings)
    await drain(down.bridge, down.settings)
    # A change through the stream, so the checkpoint has a commit time.
    await Writers(down.url, workers=1).run(target=3)
    await drain(down.bridge, down.settings)
    saved = await down.saved()
    assert saved.last_captured_at is not None
    await down.write_while_down()
    drop_slot(down.url, down.settings.slot_name)
    assert await down.slot() is None
    before = recreated("missing")

    with caplog.at_level(logging.ERROR, logger="pms_bridge.capture.logical"):
        await down.restart()

    lines = [r.getMessage() for r in caplog.records if "not captured" in r.getMessage()]
    assert len(lines) == 1 and "missing" in lines[0], lines
    assert recreated("missing") == before + 1
    assert await down.slot() is not None
    assert down.source.slot_recreated == "missing"
    assert down.source.capture_gap_since == saved.last_captured_at
    assert await cached(down.cache) == await truth(down.url, down.settings)  # rebuilt
    # Streaming goes on from the new slot.
    await Writers(down.url, workers=1, seed=5).run(target=5)
    await drain(down.bridge, down.settings)
    assert await cached(down.cache) == await truth(down.url, down.settings)


async def test_slot_invalidated_while_down_is_dropped_and_made_anew(
    own_cluster: PostgresCluster, own_db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    slot = "pmsb_invalidated"
    settings = Settings(
        database_url=own_db_url, poll_interval=0.1, slot_name=slot, publication_name=slot
    )
    down = Down(settings)
    await drain(down.bridge, down.settings)
    await Writers(down.url, workers=1).run(target=3)
    await drain(down.bridge, down.settings)
    saved = await down.saved()
    await down.write_while_down()
    before = recreated("lost")
    await invalidate(down)

    with caplog.at_level(logging.ERROR, logger="pms_bridge.capture.logical"):
        await down.restart()

    lines = [r.getMessage() for r in caplog.records if "not captured" in r.getMessage()]
    assert len(lines) == 1 and "invalidated" in lines[0], lines
    assert recreated("lost") == before + 1
    found = await down.slot()
    assert found is not None and found["wal_status"] != "lost"
    assert down.source.slot_recreated == "lost"
    assert down.source.capture_gap_since == saved.last_captured_at
    assert await cached(down.cache) == await truth(down.url, down.settings)
    drop_slot(own_db_url, slot)


async def test_slot_invalidated_while_streaming_is_seen_and_made_anew(
    own_cluster: PostgresCluster, own_db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    slot = "pmsb_invalidated_live"
    settings = Settings(
        database_url=own_db_url, poll_interval=0.1, slot_name=slot, publication_name=slot
    )
    down = Down(settings)
    await drain(down.bridge, down.settings)
    await Writers(down.url, workers=1).run(target=3)
    await drain(down.bridge, down.settings)
    saved = await down.saved()
    bridge, stop = down.bridge, asyncio.Event()
    await bridge._open(stop)
    try:
        await Writers(down.url, workers=1, seed=7).run(target=10)
        # A batch taken and never applied: the slot's confirmed position stays behind it.
        batch = None
        for _ in range(STEPS):
            batch = await bridge.source.next_batch()
            if batch is not None:
                break
        assert batch is not None and batch.changes
        await invalidate(down)  # the server ends the stream of a slot it invalidates
        with pytest.raises(SlotLost):
            await bridge.source.lag()  # the running source's periodic look at its slot
        before = recreated("lost")
        # What Bridge.run does after the error: close, then open again.
        await bridge._close()
        with caplog.at_level(logging.ERROR, logger="pms_bridge.capture.logical"):
            await bridge._open(stop)
    finally:
        await bridge._close()

    lines = [r.getMessage() for r in caplog.records if "not captured" in r.getMessage()]
    assert len(lines) == 1 and "invalidated" in lines[0], lines
    assert recreated("lost") == before + 1
    assert down.source.capture_gap_since == saved.last_captured_at
    await drain(down.bridge, down.settings)
    assert await cached(down.cache) == await truth(down.url, down.settings)
    drop_slot(own_db_url, slot)


async def test_failover_slot_on_postgresql_17(settings: Settings) -> None:
    settings = msgspec.structs.replace(settings, capture="logical", slot_failover=True)
    assert settings.database_url is not None
    async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
        cur = await conn.execute("SELECT current_setting('server_version_num')::int")
        row = await cur.fetchone()
    assert row is not None
    if row[0] < 170000:
        pytest.skip("failover slots need PostgreSQL 17+")
    source = LogicalSource(settings.database_url, settings)
    await source.open(None)
    try:
        async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
            cur = await conn.execute(
                "SELECT failover FROM pg_replication_slots WHERE slot_name = %s",
                (settings.slot_name,),
            )
            assert await cur.fetchone() == (True,)
    finally:
        await source.close()
