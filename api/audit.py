"""The audit log: every API call queued in memory and written in batches by a background task."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from typing import Any

from psycopg_pool import AsyncConnectionPool

from bridge.audit_log import AuditEntry, write
from metrics.definitions import api_audit_failed

log = logging.getLogger("pms_bridge.api.audit")

MAX_QUEUED = 20_000
BATCH = 500
FLUSH_SECONDS = 0.5


def now() -> float:
    # time.time() is many times cheaper than a datetime, and every call of the API makes one.
    return time.time()


class AuditWriter:
    """Never blocks or fails a request: a full queue or a failed write is counted and logged."""

    def __init__(self, pool: AsyncConnectionPool[Any] | None) -> None:
        self._pool = pool
        self._queue: deque[AuditEntry] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.written = 0

    def record(self, entry: AuditEntry) -> None:
        if self._pool is None:
            return
        if len(self._queue) >= MAX_QUEUED:
            api_audit_failed.labels(reason="queue_full").inc()
            return
        self._queue.append(entry)
        if len(self._queue) >= BATCH:
            self._wake.set()

    def start(self) -> None:
        if self._pool is not None:
            self._task = asyncio.create_task(self._loop(), name="api-audit")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        while self._queue:
            await self.flush()

    async def flush(self) -> int:
        if not self._queue or self._pool is None:
            return 0
        batch = [self._queue.popleft() for _ in range(min(BATCH, len(self._queue)))]
        try:
            async with self._pool.connection(timeout=5) as conn:
                await write(conn, batch)
        except Exception as exc:
            api_audit_failed.labels(reason="write_error").inc(len(batch))
            log.warning("audit batch of %d entries not written: %s", len(batch), exc)
            return 0
        self.written += len(batch)
        return len(batch)

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), FLUSH_SECONDS)
            self._wake.clear()
            while await self.flush() == BATCH:
                pass
