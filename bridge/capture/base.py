"""What every capture source promises: committed batches in commit order, claimed atomically."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

import psycopg

from bridge.changes import Batch


class Source(Protocol):
    name: str
    # True when next_batch may run while the previous batch is still being applied (the
    # bridge then reads and projects the next batch meanwhile); the outbox re-reads
    # unclaimed rows, so only a source that tracks what it handed out may say so.
    reads_ahead: bool
    # The commit time from which changes were not captured (a logical slot made anew after
    # it was lost), for reconciliation; None when there is no gap. The trigger source never
    # has one: its outbox keeps every change until it is claimed.
    capture_gap_since: datetime | None

    async def batch_waiting(self) -> None:
        """Returns once a whole batch (batch_size changes) is read and waiting to be taken."""

    async def open(self, checkpoint: int | None, *, captured_until: datetime | None = None) -> None:
        """Connect; `checkpoint` is the last position whose effects were committed, and
        `captured_until` the commit time it had reached (where a capture gap would begin)."""

    async def heartbeat(self, emitted_at: datetime) -> None:
        """Write a heartbeat that comes back in a later batch's `heartbeats`."""

    async def next_batch(self) -> Batch | None:
        """The next batch of committed changes, or None after waiting a short while for one."""

    async def claim(self, conn: psycopg.AsyncConnection[Any], batch: Batch) -> None:
        """Inside the apply transaction: make the batch consumed if and only if it commits."""

    async def acknowledge(self, batch: Batch) -> None:
        """After the apply transaction committed."""

    async def lag(self) -> tuple[float, float]:
        """(changes or bytes waiting, seconds behind the newest commit)."""

    async def close(self) -> None: ...
