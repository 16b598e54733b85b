"""Faults production meets, each under a PMS write load, each ending with nothing lost: the
bridge killed, PostgreSQL restarted, Redis killed, the webhook down with a backlog, the slot
lost while the bridge is down (the verdict is tests/integration/faults/rig.py's)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import msgspec
import pytest

from bridge.config import Settings
from bridge.embedded import PostgresCluster, RedisServer
from tests.integration.faults.rig import figures_of, record_figure, rig, wait_until
from tests.support.delivery import sql

pytestmark = pytest.mark.faults

# The webhook's outage: 10 minutes is the case (PMS_BRIDGE_FAULT_OUTAGE=600); CI
# holds it for less, which meets the same retries, holds and wake-up, only fewer times.
OUTAGE = float(os.environ.get("PMS_BRIDGE_FAULT_OUTAGE", "20"))
BACKLOG = 1000


async def test_the_bridge_killed_five_times_loses_and_doubles_nothing(
    settings: Settings, capture_mode: str, own_redis: RedisServer, tmp_path: Path
) -> None:
    settings = msgspec.structs.replace(settings, capture=capture_mode)
    recoveries: list[float] = []
    async with rig(settings, own_redis, tmp_path) as world:
        await world.begin()
        for _ in range(5):
            await world.written(40)
            await world.kill_bridge()
            await world.written(20)  # the PMS goes on writing while the bridge is down
            world.start_bridge()
            recoveries.append(await world.applying_again())
        await world.written(40)
        await world.verdict()
    record_figure("bridge killed (kill -9) 5 times", capture_mode, **figures_of(recoveries))


async def test_postgresql_restarted_under_load_loses_nothing(
    settings: Settings,
    capture_mode: str,
    durable_cluster: PostgresCluster,
    durable_db_url: str,
    own_redis: RedisServer,
    tmp_path: Path,
) -> None:
    slot = f"pmsb_fault_{capture_mode}"
    settings = msgspec.structs.replace(
        settings,
        database_url=durable_db_url,
        capture=capture_mode,
        slot_name=slot,
        publication_name=slot,
    )
    async with rig(settings, own_redis, tmp_path) as world:
        await world.begin()
        await world.written(100)
        durable_cluster.kill()
        await asyncio.sleep(1.0)
        durable_cluster.start()
        recovered = await world.applying_again()
        await world.written(100)
        await world.verdict()
    record_figure("PostgreSQL killed and restarted", capture_mode, max_s=round(recovered, 2))


async def test_redis_killed_and_restarted_empty_is_refilled(
    settings: Settings, capture_mode: str, own_redis: RedisServer, tmp_path: Path
) -> None:
    """Redis without persistence comes back empty: the bridge applies again once it answers
    (the batch it was applying comes again: from the outbox, or from the slot it was not
    acknowledged to), and the refresher fills every night back in from the PMS."""
    settings = msgspec.structs.replace(settings, capture=capture_mode)
    async with rig(settings, own_redis, tmp_path) as world:
        await world.begin()
        await world.written(100)
        own_redis.kill()
        await world.written(50)
        own_redis.start()
        recovered = await world.applying_again()
        await world.written(50)
        started = time.monotonic()
        await world.verdict()
        refilled = time.monotonic() - started
    record_figure(
        "Redis killed, restarted empty",
        capture_mode,
        max_s=round(recovered, 2),
        cache_equal_after_load_s=round(refilled, 2),
    )


@pytest.mark.timeout(OUTAGE + 400)
async def test_webhook_down_with_a_backlog_delivers_everything_once_in_order(
    settings: Settings, own_redis: RedisServer, tmp_path: Path
) -> None:
    async with rig(settings, own_redis, tmp_path) as world:
        await world.begin()
        await world.written(20)
        port = int(world.receiver.url.rsplit(":", 1)[1].split("/")[0])
        await world.receiver.go_down()
        down_at = time.monotonic()

        async def backlog() -> bool:
            rows = await sql(
                world.url,
                "SELECT count(*) FROM pms_bridge.delivery_events WHERE status = 'pending'",
            )
            return int(rows[0][0]) >= BACKLOG

        await wait_until(backlog, f"a backlog of {BACKLOG} events")
        await world.stop_load()
        await asyncio.sleep(max(0.0, OUTAGE - (time.monotonic() - down_at)))
        waiting = await sql(
            world.url,
            "SELECT count(*), count(*) FILTER (WHERE attempts > 0),"
            " count(*) FILTER (WHERE status = 'failed')"
            " FROM pms_bridge.delivery_events WHERE status <> 'delivered'",
        )
        pending, tried, failed = waiting[0]
        assert failed == 0
        # The hotel's events waited behind probes: most were never sent to a dead endpoint.
        assert tried < pending / 2
        await world.receiver.start(port)
        back_at = time.monotonic()

        async def drained() -> bool:
            rows = await sql(
                world.url,
                "SELECT count(*) FROM pms_bridge.delivery_events WHERE status <> 'delivered'",
            )
            return rows == [(0,)]

        await wait_until(drained, "the backlog delivered")
        drain_s = time.monotonic() - back_at
        await world.verdict()
    record_figure(
        f"webhook down {OUTAGE:g} s, backlog {pending} events",
        "trigger",
        drained_s=round(drain_s, 2),
        events_per_s=round(pending / drain_s, 1),
    )


async def test_the_slot_lost_while_the_bridge_is_down_is_made_up_for(
    settings: Settings, own_redis: RedisServer, tmp_path: Path
) -> None:
    settings = msgspec.structs.replace(settings, capture="logical")
    async with rig(settings, own_redis, tmp_path) as world:
        await world.begin()
        await world.written(50)
        await world.kill_bridge()
        await world.written(100)
        await sql(world.url, "SELECT pg_drop_replication_slot(%s)", (settings.slot_name,))
        await world.written(50)
        world.start_bridge()
        started = time.monotonic()
        await world.written(50)
        await world.verdict()
        repaired = time.monotonic() - started
        assert "changes committed since" in world.log.read_text()
    record_figure("slot lost while the bridge is down", "logical", repaired_s=round(repaired, 2))
