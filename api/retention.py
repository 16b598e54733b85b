"""Retention of the API's own records: old audit rows, old Idempotency-Key answers and dead
refresh-token families, pruned in short batches by a background task."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from psycopg_pool import AsyncConnectionPool

from bridge.sql import query
from metrics.definitions import api_prune_failed, api_pruned

log = logging.getLogger("pms_bridge.api.retention")

INTERVAL_SECONDS = 60.0
# Short statements: a batch holds its row locks and its WAL for a few tens of milliseconds.
BATCH = 5000
# Between batches: a first pass over months of rows must not hand the database one long
# burst of deletes (the pause still leaves room for far more than the API writes).
PAUSE_SECONDS = 0.05
# stop() waits this long for a statement in flight, then cancels it: shutdown must reach the
# audit writer's final flush.
STOP_GRACE_SECONDS = 2.0
CONNECTION_TIMEOUT_SECONDS = 5.0


class Retention:
    """Every INTERVAL_SECONDS, each table is pruned batch by batch until nothing is past its
    keep. A failed pass is logged, counted and tried again at the next interval; it never
    touches a request. Several replicas may prune at once: each skips the rows another holds."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Any] | None,
        *,
        audit_days: int,
        idempotency_days: int,
    ) -> None:
        self._pool = pool
        # (table label, query block, days): 0 days keeps the table whole.
        self._rules = [
            ("audit_log", "api_prune_audit", audit_days),
            ("idempotency", "api_prune_idempotency", idempotency_days),
            ("refresh_tokens", "api_prune_refresh_tokens", -1),  # by expiry, always
        ]
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    def start(self) -> None:
        if self._pool is not None:
            self._task = asyncio.create_task(self._loop(), name="api-retention")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is None:
            return
        done, _ = await asyncio.wait([self._task], timeout=STOP_GRACE_SECONDS)
        if not done:
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def prune(self, batch: int = BATCH, pause: float = PAUSE_SECONDS) -> dict[str, int]:
        """One pass over every table; returns the rows removed per table."""
        removed: dict[str, int] = {}
        # Not open yet: `run` is waiting for its database, and has said so.
        if self._pool is None or self._pool.closed:
            return removed
        for table, block, days in self._rules:
            if days == 0:
                continue
            removed[table] = 0
            while not self._stop.is_set():
                async with self._pool.connection(timeout=CONNECTION_TIMEOUT_SECONDS) as conn:
                    cur = await conn.execute(query(block), {"days": days, "batch": batch})
                removed[table] += cur.rowcount
                api_pruned.labels(table=table).inc(cur.rowcount)
                if cur.rowcount < batch:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), pause)
        return removed

    async def _loop(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), INTERVAL_SECONDS)
            if self._stop.is_set():
                return
            try:
                removed = await self.prune()
            except Exception:
                # Whatever failed (the database, a bug), pruning must outlive it and the
                # process's shutdown must not inherit it.
                api_prune_failed.inc()
                log.exception("pruning the API's records failed; tried again in a minute")
            else:
                if any(removed.values()):
                    log.info("pruned past their retention: %s", removed)
