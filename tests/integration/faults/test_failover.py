"""Failover: the primary killed under a PMS write load and its streaming standby promoted,
while `pms-bridge run` follows a multi-host DATABASE_URL to whichever server takes writes.

Replication is synchronous, so every commit the writers saw acknowledged is on the standby:
after the failover each of their reservations must be in the new primary, synced, and told to
the booking engine in its latest state, the cache must equal a recompute, and reconciliation
must find nothing.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import psycopg
import pytest

from bridge.cache.redis import RedisCache
from bridge.config import Settings
from bridge.delivery.receiver import Receiver, always_ok
from bridge.embedded import PostgresCluster
from tests.conftest import TEMPLATE, build_template, clone_database
from tests.support.delivery import configure, receiving, sql
from tests.support.pipeline import cached, truth
from tests.support.processes import (
    applied_count,
    cli,
    spawn_bridge,
    stop_process,
    wait_for,
)
from tests.support.writers import Writers

pytestmark = pytest.mark.faults

STANDBY = "standby1"  # the standby's physical slot and its name as a synchronous standby
SLOT = "pmsb_failover"
BEFORE_KILL = 200  # changes written before the primary is killed, and after the bridge is back
_pairs = itertools.count()


class Pair:
    """A primary holding a PMS database and its streaming standby, synchronously replicated."""

    def __init__(self, root: Path) -> None:
        self.root = root
        # Durability across an OS crash is not under test: the primary's process dies, its
        # WAL stays in the page cache, and what counts is what reached the standby.
        bindir = os.environ.get("PMS_BRIDGE_TEST_PG_BINDIR")  # as tests/conftest.py
        self.primary = PostgresCluster(
            root / "primary", bindir=Path(bindir) if bindir else None, settings={"fsync": "off"}
        )
        self.standby: PostgresCluster | None = None
        self.dbname = ""

    @property
    def url(self) -> str:
        """Both servers, the one that takes writes chosen at each connection."""
        assert self.standby is not None
        hosts = f"127.0.0.1:{self.primary.port},127.0.0.1:{self.standby.port}"
        return f"postgresql://postgres@{hosts}/{self.dbname}?target_session_attrs=read-write"

    async def start(self, *, sync_slots: bool) -> None:
        """The primary with a fresh PMS database, then the standby; `sync_slots` sets up
        failover slots (the standby synchronizes them, the primary waits for it)."""
        await asyncio.to_thread(self.primary.start)
        await build_template(self.primary.url(), self.primary.url(TEMPLATE), Settings())
        self.dbname = clone_database(self.primary, TEMPLATE).rsplit("/", 1)[1]
        standby_settings = {"cluster_name": STANDBY, "hot_standby_feedback": "on"}
        if sync_slots:
            standby_settings["sync_replication_slots"] = "on"
        self.standby = await asyncio.to_thread(
            PostgresCluster.standby_of,
            self.primary,
            self.root / "standby",
            slot=STANDBY,
            dbname=self.dbname,
            settings=standby_settings,
        )
        await asyncio.to_thread(self.standby.start)
        # Set after the copy, so the promoted standby waits for no standby of its own.
        primary_settings = {"synchronous_standby_names": STANDBY}
        if sync_slots:
            primary_settings["synchronized_standby_slots"] = STANDBY
        async with await psycopg.AsyncConnection.connect(
            self.primary.url(), autocommit=True
        ) as conn:
            for name, value in primary_settings.items():
                await conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
            await conn.execute("SELECT pg_reload_conf()")

        async def synchronous() -> bool:
            rows = await sql(
                self.primary.url(),
                "SELECT 1 FROM pg_stat_replication WHERE application_name = %s"
                " AND sync_state = 'sync' AND state = 'streaming'",
                (STANDBY,),
            )
            return bool(rows)

        await wait_for(synchronous, "the standby to stream synchronously")

    def destroy(self) -> None:
        for cluster in (self.standby, self.primary):
            if cluster is not None:
                cluster.destroy()


@pytest.fixture
def pair(workdir: Path) -> Iterator[Pair]:
    servers = Pair(workdir / f"failover{next(_pairs)}")
    yield servers
    servers.destroy()


async def standby_slot_synced(standby: PostgresCluster, dbname: str) -> bool:
    """The bridge's slot is on the standby, synchronized and kept over a promotion."""
    rows = await sql(
        standby.url(dbname),
        "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s AND synced"
        " AND NOT temporary AND invalidation_reason IS NULL",
        (SLOT,),
    )
    return bool(rows)


async def slot_exists(url: str) -> bool:
    return bool(await sql(url, "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (SLOT,)))


async def first_apply_after(url: str, moment: datetime, applied: int) -> datetime:
    """When the bridge committed a batch of changes (more than `applied` in all, so not only
    a heartbeat) after `moment` on the server `url` reaches: the checkpoint keeps its last
    save only, so this is the first such save or one within a poll of it."""
    found: list[datetime] = []

    async def saved() -> bool:
        try:
            rows = await sql(
                url,
                "SELECT min(updated_at) FROM pms_bridge.checkpoint"
                " WHERE updated_at > %s AND changes_applied > %s",
                (moment, applied),
            )
        except psycopg.OperationalError:
            return False  # no server takes writes yet
        if rows and rows[0][0] is not None:
            found.append(rows[0][0])
        return bool(found)

    await wait_for(saved, "a batch applied on the new primary", limit=110)
    return found[0]


class Failover:
    """The bridge, the webhook and the writers over a `Pair`, the primary killed mid-load."""

    def __init__(
        self,
        pair: Pair,
        capture: Literal["trigger", "logical"],
        redis_url: str,
        cache: RedisCache,
        tmp_path: Path,
    ) -> None:
        self.pair = pair
        self.url = pair.url
        self.cache = cache
        self.settings = Settings(
            database_url=self.url,
            redis_url=redis_url,
            redis_prefix=cache.prefix,
            capture=capture,
            poll_interval=0.1,
            batch_size=200,
            slot_name=SLOT,
            publication_name=SLOT,
            webhook_allow_loopback_http=True,  # the receiver is http on 127.0.0.1
        )
        self.log = tmp_path / "bridge.log"
        self.writers = Writers(self.url, workers=3)

    async def run(self, receiver: Receiver, *, slot_synced: bool = False) -> None:
        """Writes without a pause while the primary is killed and the standby promoted,
        until the bridge applies changes on the new primary and a few hundred more are
        written. `slot_synced` first waits for the slot to be synchronized (its copy then
        lags behind it while the load runs)."""
        # `receiving` configured hotel 1; the writers book in both.
        receiver.secrets[2] = await configure(self.url, receiver.url, 2)
        proc = spawn_bridge(self.settings, self.log)
        stop = asyncio.Event()
        try:
            if self.settings.capture == "logical":
                primary = self.pair.primary.url(self.pair.dbname)
                await wait_for(lambda: slot_exists(primary), "the bridge to make its slot")
            if slot_synced:
                assert self.pair.standby is not None
                standby, dbname = self.pair.standby, self.pair.dbname
                await wait_for(
                    lambda: standby_slot_synced(standby, dbname), "the slot on the standby"
                )
            writing = asyncio.create_task(self.writers.run(target=10**9, stop=stop))

            async def mid_stream() -> bool:
                return await applied_count(self.url) > 0 and self.writers.changes > BEFORE_KILL

            await wait_for(mid_stream, "the bridge to apply its first batches")
            applied = await applied_count(self.url)
            killed_at = datetime.now().astimezone()
            started = time.monotonic()
            await asyncio.to_thread(self.pair.primary.kill)
            assert self.pair.standby is not None
            await asyncio.to_thread(self.pair.standby.promote)
            promoted = time.monotonic() - started
            applied_at = await first_apply_after(self.url, killed_at, applied)
            # The figure for docs/benchmarks.md (`-s` shows it); not asserted.
            print(
                f"failover {self.settings.capture}: changes applied on the new primary "
                f"{(applied_at - killed_at).total_seconds():.2f}s after the kill "
                f"(promoted after {promoted:.2f}s)"
            )
            back = self.writers.changes
            await wait_for(lambda: self.more_written(back), "writes after the failover")
            stop.set()
            await writing
            try:
                await wait_for(self.delivered, "every reservation delivered", limit=110)
            except AssertionError as exc:
                raise AssertionError(f"{exc}; not synced: {await self.undelivered()}") from None
            assert await stop_process(proc) == 0
            assert self.log_lines("connection lost"), "the bridge never saw the primary go"
        finally:
            stop.set()
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    async def more_written(self, than: int) -> bool:
        return self.writers.changes > than + BEFORE_KILL

    async def touched_in_pms(self) -> set[tuple[int, uuid.UUID]]:
        rows = await sql(
            self.url,
            "SELECT hotel_id, id FROM reservations WHERE id = ANY(%s)",
            ([r for _, r in self.writers.touched],),
        )
        return {(hotel_id, reservation_id) for hotel_id, reservation_id in rows}

    async def undelivered(self) -> list[tuple[Any, ...]]:
        """The touched reservations not synced, with their sync status and open events."""
        return await sql(
            self.url,
            "SELECT r.id, s.sync_status, (SELECT count(*) FROM pms_bridge.delivery_events e"
            "  WHERE e.booking_id = r.id AND e.status <> 'delivered')"
            " FROM unnest(%s::uuid[]) r (id)"
            " LEFT JOIN booking_sync_status s ON s.booking_id = r.id"
            " WHERE s.sync_status IS DISTINCT FROM 'synced'",
            ([r for _, r in self.writers.touched],),
        )

    async def delivered(self) -> bool:
        pending = await sql(
            self.url, "SELECT count(*) FROM pms_bridge.delivery_events WHERE status <> 'delivered'"
        )
        return pending == [(0,)] and not await self.undelivered()

    async def check_nothing_lost(self, receiver: Receiver) -> None:
        # Acknowledged commits were on the standby when acknowledged.
        assert await self.touched_in_pms() == self.writers.touched
        # The booking engine's last event of each reservation is the latest one enqueued.
        latest = await sql(
            self.url,
            "SELECT DISTINCT ON (booking_id) booking_id, event_id FROM pms_bridge.delivery_events"
            " WHERE booking_id = ANY(%s) ORDER BY booking_id, seq DESC",
            ([r for _, r in self.writers.touched],),
        )
        told: dict[str, str | None] = {}
        for request in receiver.applied:
            if request.booking_id is not None:
                told[request.booking_id] = request.key
        assert {str(b): str(e) for b, e in latest} == {
            str(r): told.get(str(r)) for _, r in self.writers.touched
        }
        assert await cached(self.cache) == await truth(self.url, self.settings)
        dry = self.reconcile("--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert "reconcile: total 0 (dry run, nothing changed)" in dry.stdout.splitlines(), (
            dry.stdout
        )

    def reconcile(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`pms-bridge reconcile`, the bridge's cache in Redis included."""
        return cli(self.settings, "reconcile", *args, with_cache=True)

    def log_lines(self, text: str) -> list[str]:
        return [line for line in self.log.read_text().splitlines() if text in line]


async def test_trigger_mode_goes_on_after_a_promotion_with_nothing_lost(
    pair: Pair, redis_url: str, redis_cache: RedisCache, tmp_path: Path
) -> None:
    await pair.start(sync_slots=False)
    failover = Failover(pair, "trigger", redis_url, redis_cache, tmp_path)
    async with receiving(failover.url, always_ok) as (receiver, _secret):
        await failover.run(receiver)
    await failover.check_nothing_lost(receiver)
    rows = await sql(failover.url, "SELECT count(*) FROM pms_bridge.outbox")
    assert rows == [(0,)]


async def test_logical_mode_goes_on_from_the_synchronized_failover_slot(
    pair: Pair,
    redis_url: str,
    redis_cache: RedisCache,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await asyncio.to_thread(pair.primary.init)
    if pair.primary.version < 17:
        pytest.skip("failover slots need PostgreSQL 17 or later")
    monkeypatch.setenv("BRIDGE_SLOT_FAILOVER", "true")
    await pair.start(sync_slots=True)
    failover = Failover(pair, "logical", redis_url, redis_cache, tmp_path)
    async with receiving(failover.url, always_ok) as (receiver, _secret):
        await failover.run(receiver, slot_synced=True)
    await failover.check_nothing_lost(receiver)
    # The bridge streamed on from the standby's copy of its slot: never made anew.
    assert failover.log_lines("not captured") == []
    assert failover.log_lines("making it anew") == []
    assert await sql(
        failover.url,
        "SELECT failover, synced FROM pg_replication_slots WHERE slot_name = %s",
        (SLOT,),
    ) == [(True, True)]


async def test_logical_mode_without_a_failover_slot_reconciles_the_gap(
    pair: Pair, redis_url: str, redis_cache: RedisCache, tmp_path: Path
) -> None:
    await pair.start(sync_slots=False)
    failover = Failover(pair, "logical", redis_url, redis_cache, tmp_path)
    async with receiving(failover.url, always_ok) as (receiver, _secret):
        await failover.run(receiver)
    await failover.check_nothing_lost(receiver)
    (lost,) = failover.log_lines("not captured")
    assert f"replication slot {SLOT} was missing" in lost
    (repaired,) = failover.log_lines("reconciled:")
    assert "capture gap since" in repaired
    # Reconciled, so no longer kept with the checkpoint.
    gaps = "SELECT 1 FROM pms_bridge.checkpoint WHERE capture_gap_since IS NOT NULL"
    assert await sql(failover.url, gaps) == []
