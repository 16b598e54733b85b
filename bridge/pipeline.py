"""The bridge loop: source -> Change -> projectors -> sinks; effects + checkpoint in one commit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Sequence
from typing import Any, Protocol

import msgspec
import psycopg

from bridge import checkpoint, contract
from bridge.cache.base import Cache
from bridge.capture.base import Source
from bridge.changes import Batch, Change, RawReject
from bridge.db import SCHEMA_ERRORS, connect, fetch_value, first_line
from bridge.heartbeat import HeartbeatMonitor
from bridge.horizon import Horizon
from bridge.live_status import MemoVersion, Moves
from bridge.outage import CACHE_DOWN, DATABASE_DOWN
from bridge.projectors import availability, sync_status
from bridge.rows import MalformedChange, validate
from bridge.sinks import availability as availability_sink
from bridge.sinks import sync_status as sync_sink
from bridge.sql import query
from metrics import definitions as m

log = logging.getLogger("pms_bridge.pipeline")

# Errors after which the bridge reconnects and carries on rather than exiting. A Redis outage
# is one: the batch's transaction rolls back, its changes stay unconsumed and come again.
RECOVERABLE: tuple[type[Exception], ...] = (
    *DATABASE_DOWN,
    *CACHE_DOWN,
    OSError,
    ConnectionError,
)
# Errors a change's own data can cause in a stage: the change is parked, the stream goes on.
POISON = (psycopg.errors.DataError, psycopg.errors.IntegrityError)
PAUSE_BACKOFF_MAX = 30.0


class ContractBroken(Exception):
    """The PMS schema or the role's privileges no longer keep the bridge's contract."""


# What pauses applying until the schema fits again, rather than reconnecting at once.
PAUSING: tuple[type[Exception], ...] = (ContractBroken, *SCHEMA_ERRORS)


class Stage(Protocol):
    """One projector + sink pair: `project` is pure (it may run ahead, while the previous
    batch is applied); `apply` writes its effect inside the batch's transaction."""

    name: str

    def project(self, changes: Sequence[Change]) -> Any: ...

    async def apply(self, conn: psycopg.AsyncConnection[Any], effect: Any) -> None: ...


class AvailabilityStage:
    name = "availability"

    def __init__(self, cache: Cache, horizon: Horizon, moves: Moves | None = None) -> None:
        self.cache = cache
        self.horizon = horizon
        self.moves = moves

    def project(self, changes: Sequence[Change]) -> availability.AvailabilityDirty:
        return availability.project(changes)

    async def apply(
        self, conn: psycopg.AsyncConnection[Any], effect: availability.AvailabilityDirty
    ) -> None:
        await availability_sink.apply(conn, self.cache, effect, self.horizon, self.moves)


class SyncStatusStage:
    name = "sync_status"

    def project(self, changes: Sequence[Change]) -> list[sync_status.SyncMark]:
        return sync_status.project(changes)

    async def apply(
        self, conn: psycopg.AsyncConnection[Any], effect: list[sync_status.SyncMark]
    ) -> None:
        await sync_sink.apply(conn, effect)


async def apply_change(
    conn: psycopg.AsyncConnection[Any], stages: Sequence[Stage], change: Change
) -> None:
    """One change through every stage, in a savepoint: when it fails on its data (POISON),
    its effects are undone and the enclosing transaction stays usable. A poison batch is
    applied this way, and so is a parked change given another try (bridge/parked.py)."""
    async with conn.transaction():
        for stage in stages:
            await stage.apply(conn, stage.project([change]))


class Prepared(msgspec.Struct, gc=False):
    """A batch checked and projected, ready for its apply transaction."""

    batch: Batch
    good: list[Change]
    rejects: list[RawReject]
    effects: list[Any]


class LatencySamples:
    """Recent commit -> applied latencies for the demo's p50/p99; Prometheus has the histogram."""

    def __init__(self, size: int = 200_000) -> None:
        self.samples: deque[float] = deque(maxlen=size)

    def percentile(self, q: float) -> float:
        if not self.samples:
            return 0.0
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Bridge:
    """Applies batches from one source; exactly one active Bridge per consumer name."""

    def __init__(
        self,
        database_url: str,
        source: Source,
        stages: Sequence[Stage],
        *,
        consumer: str = "default",
        lag_interval: float = 1.0,
        watched: Sequence[str] = (),
        contract_interval: float = 5.0,
        heartbeat_interval: float = 0.0,
        moves: Moves | None = None,
    ) -> None:
        self.database_url = database_url
        self.source = source
        self.stages = list(stages)
        self.consumer = f"{source.name}:{consumer}"
        self.lag_interval = lag_interval
        self.watched = tuple(watched)
        self.contract_interval = contract_interval
        # Why applying is paused (the PMS schema or privileges), while it is.
        self.paused: str | None = None
        self.latencies = LatencySamples()
        self.applied = 0
        self.parked = 0
        self.connected = False
        # Counts the times the source was opened: what was read before a reconnection may
        # predate changes that are still to be caught up on.
        self.connections = 0
        self.lag: tuple[float, float] = (0.0, 0.0)
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._next_lag = 0.0
        self._next_contract = 0.0
        self._pause_backoff = 1.0
        # After a pause, changes committed while the schema did not fit may lack columns the
        # projectors key on: the first batch after it recomputes every cache.
        self._resync = False
        self._ahead: asyncio.Task[Prepared | None] | None = None
        self.heartbeats = HeartbeatMonitor(heartbeat_interval)
        # The stages' sinks say which hotels' cached answers they wrote; flushed once a
        # batch is done (bridge/shared_version.py publishes them).
        self.moves = moves or Moves()

    @property
    def capture(self) -> str:
        return self.source.name

    def heartbeat_age(self) -> float | None:
        return self.heartbeats.age()

    def latency_percentile(self, q: float) -> float:
        return self.latencies.percentile(q)

    def memo_version(self, hotel_id: int) -> MemoVersion:
        return self.moves.versions.of(hotel_id)

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set: finishes the batch in hand, then returns. Reconnects on loss."""
        backoff = 0.1
        try:
            while not stop.is_set():
                try:
                    await self._open(stop)
                    backoff = 0.1
                    while not stop.is_set():
                        await self.step()
                except RECOVERABLE as exc:
                    m.source_errors.labels(kind=type(exc).__name__).inc()
                    log.warning("connection lost (%s); reconnecting in %.1fs", exc, backoff)
                    await self._close()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), backoff)
                    backoff = min(backoff * 2, 5.0)
                except PAUSING as exc:
                    # The batch in hand rolled back unacknowledged: it comes again on resume.
                    await self._close()
                    await self._pause(stop, first_line(exc))
        finally:
            await self._close()

    async def _pause(self, stop: asyncio.Event, reason: str) -> None:
        """Waits, re-checking the contract with backoff, until the schema fits again."""
        self.paused = reason
        m.schema_contract_ok.set(0)
        m.applying_paused.inc()
        log.error("applying paused: %s", reason)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._pause_backoff)
            self._pause_backoff = min(self._pause_backoff * 2, PAUSE_BACKOFF_MAX)
            try:
                async with await connect(self.database_url, autocommit=True) as conn:
                    report = await contract.check(conn, self.watched, self.source.name, api=False)
            except RECOVERABLE:
                continue
            if report.ok:
                break
            if report.line() != self.paused:
                self.paused = report.line()
                log.error("applying paused: %s", self.paused)
        if self.paused is not None and not stop.is_set():
            log.warning("applying resumed: the PMS schema keeps the contract again")
            self._resync = True
        self.paused = None
        m.schema_contract_ok.set(1)

    async def _open(self, stop: asyncio.Event) -> None:
        self._conn = await connect(self.database_url, autocommit=True)
        while not stop.is_set():
            params = {"consumer": self.consumer}
            if await fetch_value(self._conn, query("try_consumer_lock"), params):
                break
            # Another process is the active consumer; stand by until it lets go.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
        if stop.is_set():
            return
        saved = await checkpoint.load(self._conn, self.consumer)
        if saved is None:
            await self.source.open(None)
        else:
            # Where a capture gap would begin: everything committed up to then was applied.
            until = saved.last_captured_at or saved.updated_at
            await self.source.open(saved.position, captured_until=until)
            gap = self.source.capture_gap_since
            if gap is not None:
                # Kept until reconciled, so that a stop before then does not forget it.
                await checkpoint.record_gap(self._conn, self.consumer, gap)
            if saved.capture_gap_since is not None and (
                gap is None or saved.capture_gap_since < gap
            ):
                self.source.capture_gap_since = saved.capture_gap_since
        self.connections += 1
        self.connected = True
        self.moves.capture(True)
        m.consumer_active.set(1)

    async def _close(self) -> None:
        self.connected = False
        # With what a batch that failed had written to the caches already.
        self.moves.capture(False)
        m.consumer_active.set(0)
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            # A batch read ahead and not applied is simply not acknowledged: it comes again.
            ahead.cancel()
            with contextlib.suppress(asyncio.CancelledError, *RECOVERABLE, *POISON):
                await ahead
        await self.source.close()
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def step(self) -> int:
        """Apply at most one batch; returns how many changes it applied."""
        now = time.monotonic()
        if now >= self._next_contract and self._conn is not None:
            # A DDL on a watched table shows here within the interval, even while no change
            # arrives to fail on it.
            self._next_contract = now + self.contract_interval
            report = await contract.check(self._conn, self.watched, self.source.name, api=False)
            if not report.ok:
                raise ContractBroken(report.line())
        if now >= self._next_lag:
            self._next_lag = now + self.lag_interval
            self.lag = await self.source.lag()
            m.lag_changes.set(self.lag[0])
            m.lag_seconds.set(self.lag[1])
            self.heartbeats.age()
        emitted_at = self.heartbeats.due()
        if emitted_at is not None:
            await self.source.heartbeat(emitted_at)
        ahead, self._ahead = self._ahead, None
        prepared = await (ahead if ahead is not None else self._fetch())
        if prepared is None:
            return 0
        if not self.source.reads_ahead:
            return await self._commit(prepared)
        committed = asyncio.Event()
        self._ahead = asyncio.create_task(self._fetch_ahead(committed))
        try:
            return await self._commit(prepared)
        finally:
            committed.set()

    async def _fetch(self) -> Prepared | None:
        batch = await self.source.next_batch()
        return None if batch is None else self.prepare(batch)

    async def _fetch_ahead(self, committed: asyncio.Event) -> Prepared | None:
        """The next batch, read, checked and projected (Python work) while the current one's
        statements run on the server, as soon as a whole batch waits (a backlog). Otherwise
        it is taken when the current one has committed, as without reading ahead: taken
        earlier, it would leave out what arrives meanwhile and wait a whole apply longer."""
        waits = [
            asyncio.ensure_future(self.source.batch_waiting()),
            asyncio.ensure_future(committed.wait()),
        ]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        return await self._fetch()

    def prepare(self, batch: Batch) -> Prepared:
        """Checks every change and projects the good ones through every stage (no I/O)."""
        good: list[Change] = []
        resync: list[Change] = []
        if self._resync and batch.changes:
            self._resync = False
            first = batch.changes[0]
            resync = [
                msgspec.structs.replace(first, table=table).anything_in_table()
                for table in self.watched
            ]
        rejects = list(batch.raw_rejects)
        for change in batch.changes:
            try:
                validate(change)
            except MalformedChange as exc:
                rejects.append(
                    RawReject(
                        change.position,
                        change.table,
                        change.op,
                        msgspec.to_builtins(change),
                        str(exc),
                    )
                )
            else:
                good.append(change)
        projected = resync + good
        return Prepared(batch, good, rejects, [stage.project(projected) for stage in self.stages])

    async def apply(self, batch: Batch) -> int:
        return await self._commit(self.prepare(batch))

    async def _commit(self, prepared: Prepared) -> int:
        conn = self._conn
        if conn is None:
            raise psycopg.InterfaceError("bridge is not connected")
        batch, rejects = prepared.batch, prepared.rejects
        async with conn.transaction():
            good = await self._apply_stages(conn, prepared)
            if rejects:
                await self._park(conn, rejects)
            await self.source.claim(conn, batch)
            # A heartbeat's commit time counts: everything committed before it was captured.
            times = [good[-1].committed_at] if good else []
            times += [heartbeat.committed_at for heartbeat in batch.heartbeats]
            last = max(times) if times else None
            await checkpoint.save(conn, self.consumer, batch.position, len(good), last)
        await self.source.acknowledge(batch)
        self._account(good, rejects)
        self.heartbeats.saw(batch.heartbeats)
        return len(good)

    async def _apply_stages(
        self, conn: psycopg.AsyncConnection[Any], prepared: Prepared
    ) -> list[Change]:
        """All stages over the batch; if the batch fails on its data, change by change, so
        the change that fails is parked and the others are applied (savepoints keep the
        transaction usable)."""
        changes = prepared.good
        try:
            async with conn.transaction():
                for stage, effect in zip(self.stages, prepared.effects, strict=True):
                    await stage.apply(conn, effect)
            return changes
        except POISON:
            log.warning("batch of %d failed on its data; applying change by change", len(changes))
        applied: list[Change] = []
        for change in changes:
            try:
                await apply_change(conn, self.stages, change)
            except POISON as exc:
                payload = msgspec.to_builtins(change)
                prepared.rejects.append(
                    RawReject(change.position, change.table, change.op, payload, str(exc))
                )
            else:
                applied.append(change)
        return applied

    async def _park(self, conn: psycopg.AsyncConnection[Any], rejects: list[RawReject]) -> None:
        encode = msgspec.json.encode
        await conn.execute(
            query("park_change"),
            {
                "consumer": self.consumer,
                "positions": [str(r.position) for r in rejects],
                "tables": [r.table for r in rejects],
                "ops": [r.op for r in rejects],
                "payloads": [encode(r.payload).decode() for r in rejects],
                "errors": [r.error for r in rejects],
            },
        )
        for reject in rejects:
            log.warning("parked change %s on %s: %s", reject.position, reject.table, reject.error)

    def _account(self, good: list[Change], rejects: list[RawReject]) -> None:
        now = time.time()
        counts: dict[tuple[str, str], int] = {}
        observe = m.sync_latency.labels(capture=self.source.name).observe
        record = self.latencies.samples.append
        for change in good:
            latency = max(now - change.committed_at.timestamp(), 0.0)
            observe(latency)
            record(latency)
            key = (change.table, change.op)
            counts[key] = counts.get(key, 0) + 1
        for (table, op), count in counts.items():
            m.changes_applied.labels(table=table, op=op).inc(count)
        for reject in rejects:
            m.changes_parked.labels(table=reject.table or "unknown").inc()
        self.applied += len(good)
        # The batch's cache writes have landed: the hotels they moved move as one.
        self.moves.flush()
        self.parked += len(rejects)
        self._pause_backoff = 1.0
        m.batches_applied.inc()
        m.batch_size.observe(len(good) + len(rejects))
