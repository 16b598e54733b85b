"""The fault suite's rig: a PMS under write load, `pms-bridge run` as a process of its own,
its Redis and the booking engine's webhook, and the end-of-fault verdict every test asks for.

The verdict: nothing lost and nothing sent twice in effect. Every reservation the load wrote
(or may have written: a commit cut off by the fault counts too) reached `booking_sync_status`
as synced; the booking engine acknowledged each reservation's events once each, in order,
exactly the events the bridge recorded as delivered, and never the same state under two
Idempotency-Keys; the availability cache equals a recompute; nothing is parked; and
`pms-bridge reconcile --dry-run` finds 0 differences.

Recovery figures (seconds from a fault's end to the bridge applying again, events per second
while a backlog drains) go to the JSON-lines file named by PMS_BRIDGE_FAULT_FIGURES, which
`python -m bench faults` reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
import psycopg

from bridge.cache.redis import RedisCache
from bridge.config import Settings
from bridge.delivery.receiver import Receiver, always_ok
from bridge.embedded import RedisServer
from tests.support.delivery import configure, sql
from tests.support.pipeline import cached, truth
from tests.support.processes import applied_count, cli, spawn_bridge
from tests.support.writers import Writers

HOTELS = (1, 2)
# Settings of the bridge under test: short polls and waits, so a test spends its time on the
# fault, not on timers. Retry caps and intervals are the product's own settings.
BRIDGE_ENV = {
    "BRIDGE_REFRESH_INTERVAL": "1",
    "BRIDGE_HEARTBEAT_SECONDS": "1",
    "BRIDGE_DELIVERY_MAX_DELAY": "2",
    "BRIDGE_RECONCILE_INTERVAL": "0",
}
# What a wait may take before the test is called hung; never an assertion about speed.
PATIENCE = 240.0


def record_figure(fault: str, capture: str, **figures: float) -> None:
    """One line of recovery figures for `python -m bench faults`."""
    path = os.environ.get("PMS_BRIDGE_FAULT_FIGURES")
    if not path:
        return
    with Path(path).open("a") as out:
        out.write(json.dumps({"fault": fault, "capture": capture, **figures}) + "\n")


async def wait_until(check: Callable[[], Awaitable[bool]], what: str) -> float:
    """Poll `check` until it holds; returns the seconds it took."""
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < PATIENCE, f"gave up waiting for {what}"
        await asyncio.sleep(0.1)
    return time.monotonic() - started


class Rig:
    """One fault scenario's world; see the module docstring for the verdict it checks."""

    def __init__(self, settings: Settings, redis: RedisServer, workdir: Path) -> None:
        assert settings.database_url is not None
        self.url = settings.database_url
        self.redis = redis
        self.settings = msgspec.structs.replace(settings, redis_url=redis.url)
        self.workdir = workdir
        self.log = workdir / "bridge.log"
        self.receiver = Receiver({}, always_ok)
        self.writers = Writers(self.url, workers=3)
        self.bridge: subprocess.Popen[bytes] | None = None
        self.env = dict(BRIDGE_ENV)
        self.started_at = time.time()
        self._load: asyncio.Task[None] | None = None
        self._load_stop = asyncio.Event()
        self.unsettled = ""
        self.started_at_db: Any = None

    async def open(self) -> None:
        await self.receiver.start()
        for hotel_id in HOTELS:
            self.receiver.secrets[hotel_id] = await configure(self.url, self.receiver.url, hotel_id)
        await self.writers.load()

    async def close(self) -> None:
        await self.stop_load()
        if self.bridge is not None and self.bridge.poll() is None:
            self.bridge.kill()
            await asyncio.to_thread(self.bridge.wait, 30)
        await self.receiver.stop()

    # The bridge process.
    def start_bridge(self) -> None:
        self.bridge = spawn_bridge(self.settings, self.log, self.env)

    async def kill_bridge(self) -> None:
        assert self.bridge is not None
        self.bridge.send_signal(signal.SIGKILL)
        await asyncio.to_thread(self.bridge.wait, 30)

    async def stop_bridge(self) -> None:
        assert self.bridge is not None
        self.bridge.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(self.bridge.wait, 60) == 0, self.log.read_text()[-3000:]

    def bridge_alive(self) -> bool:
        return self.bridge is not None and self.bridge.poll() is None

    async def applying_again(self) -> float:
        """Seconds until the bridge applies a change it had not before this call."""
        before = await applied_count(self.url)

        async def moved() -> bool:
            assert self.bridge_alive(), self.log.read_text()[-3000:]
            try:
                return await applied_count(self.url) > before
            except psycopg.OperationalError:
                return False

        return await wait_until(moved, "the bridge to apply changes again")

    async def begin(self) -> None:
        """The bridge started and capturing, then the load started and being applied. In
        logical mode capture begins when the first start makes the slot: what the PMS wrote
        before then is, like what it held before the bridge came, not told."""
        self.start_bridge()
        if self.settings.capture == "logical":

            async def streaming() -> bool:
                assert self.bridge_alive(), self.log.read_text()[-3000:]
                rows = await sql(
                    self.url,
                    "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s AND active",
                    (self.settings.slot_name,),
                )
                return bool(rows)

            await wait_until(streaming, "the bridge to stream from its slot")
        await self.mark_start()
        self.start_load()
        await self.applying_again()

    # The PMS's write load.
    def start_load(self) -> None:
        self._load_stop.clear()
        self._load = asyncio.create_task(self.writers.run(10**9, self._load_stop))

    async def stop_load(self) -> None:
        self._load_stop.set()
        if self._load is not None:
            await self._load
            self._load = None

    async def written(self, at_least: int) -> None:
        """Wait until the load has committed `at_least` more transactions."""
        target = self.writers.transactions + at_least

        async def done() -> bool:
            return self.writers.transactions >= target

        await wait_until(done, f"{at_least} transactions of load")

    # The verdict.
    async def _reservations(self) -> set[uuid.UUID]:
        """Every reservation of a syncing hotel the load wrote, or may have written."""
        made = await sql(
            self.url,
            "SELECT id FROM reservations WHERE hotel_id = ANY(%s) AND created_at >= %s",
            (list(HOTELS), self.started_at_db),
        )
        return {row[0] for row in made} | {b for h, b in self.writers.touched if h in HOTELS}

    async def _settled(self) -> bool:
        open_events = await sql(
            self.url, "SELECT count(*) FROM pms_bridge.delivery_events WHERE status <> 'delivered'"
        )
        if open_events[0][0]:
            self.unsettled = f"{open_events[0][0]} events not delivered"
            return False
        bookings = list(await self._reservations())
        synced = await sql(
            self.url,
            "SELECT count(*) FROM booking_sync_status"
            " WHERE booking_id = ANY(%s) AND sync_status = 'synced'",
            (bookings,),
        )
        if synced[0][0] != len(bookings):
            examples = await sql(
                self.url,
                "SELECT r.id, r.status, r.created_at, s.sync_status,"
                " (SELECT count(*) FROM pms_bridge.delivery_events e WHERE e.booking_id = r.id),"
                " (SELECT count(*) FROM pms_bridge.booking_digests d WHERE d.booking_id = r.id)"
                " FROM reservations r LEFT JOIN booking_sync_status s ON s.booking_id = r.id"
                " WHERE r.id = ANY(%s) AND s.sync_status IS DISTINCT FROM 'synced' LIMIT 5",
                (bookings,),
            )
            self.unsettled = (
                f"{len(bookings) - synced[0][0]} of {len(bookings)} not synced, e.g. {examples}"
            )
            return False
        cache = RedisCache(self.redis.url, self.settings.redis_prefix)
        try:
            have, want = await cached(cache), await truth(self.url, self.settings)
        finally:
            await cache.close()
        wrong = [key for key in want.keys() | have.keys() if have.get(key) != want.get(key)]
        self.unsettled = f"{len(wrong)} availability entries differ, e.g. {wrong[:3]}"
        return not wrong

    async def verdict(self) -> None:
        """Load stopped, wait for the bridge to settle, then check nothing was lost."""
        await self.stop_load()
        try:
            await wait_until(self._settled, "the bridge to settle")
        except AssertionError as exc:
            outbox = await sql(self.url, "SELECT count(*) FROM pms_bridge.outbox")
            raise AssertionError(
                f"not settled: {self.unsettled}; outbox rows {outbox[0][0]}; "
                f"bridge log: {self.log.read_text()[-2000:]}"
            ) from exc
        assert self.bridge_alive(), self.log.read_text()[-3000:]
        parked = await sql(self.url, "SELECT count(*) FROM pms_bridge.parked_changes")
        assert parked == [(0,)]
        dry = cli(self.settings, "reconcile", "--dry-run", with_cache=True)
        assert dry.returncode == 0, dry.stderr
        lines = dry.stdout.splitlines()
        assert "reconcile: availability 0" in lines, dry.stdout
        assert "reconcile: total 0 (dry run, nothing changed)" in lines, dry.stdout
        self.check_deliveries(await self._delivered())

    async def _delivered(self) -> dict[str, list[str]]:
        rows = await sql(
            self.url,
            "SELECT booking_id, event_id FROM pms_bridge.delivery_events"
            " WHERE status = 'delivered' ORDER BY booking_id, seq",
        )
        recorded: dict[str, list[str]] = defaultdict(list)
        for booking_id, event_id in rows:
            recorded[str(booking_id)].append(str(event_id))
        return recorded

    def check_deliveries(self, recorded: dict[str, list[str]]) -> None:
        """The booking engine acknowledged exactly what the bridge recorded as delivered, in
        order per reservation, and no state twice under two keys."""
        acknowledged: dict[str, list[str]] = defaultdict(list)
        for request in self.receiver.applied:
            assert request.booking_id is not None and request.key is not None
            acknowledged[request.booking_id].append(request.key)
        assert acknowledged == recorded
        # One change of a reservation is one event: its commit time and operation never come
        # under a second key (as a batch applied twice with fresh event ids would send).
        keys_of_change: dict[tuple[Any, ...], set[str | None]] = defaultdict(set)
        for request in self.receiver.requests:
            event = msgspec.json.decode(request.body)
            change = (request.booking_id, event["operation"], event["occurred_at"])
            keys_of_change[change].add(request.key)
        assert all(len(keys) == 1 for keys in keys_of_change.values())

    async def mark_start(self) -> None:
        """The database's clock at the start: reservations made after it are the load's."""
        rows = await sql(self.url, "SELECT now()")
        self.started_at_db = rows[0][0]


@contextlib.asynccontextmanager
async def rig(settings: Settings, redis: RedisServer, workdir: Path) -> AsyncIterator[Rig]:
    world = Rig(settings, redis, workdir)
    await world.open()
    try:
        yield world
    finally:
        await world.close()


def bridge_log(world: Rig) -> str:
    return world.log.read_text() if world.log.exists() else ""


def figures_of(values: list[float]) -> dict[str, Any]:
    return {"max_s": round(max(values), 2), "mean_s": round(sum(values) / len(values), 2)}
