"""`pms-bridge status`: the consumer's checkpoint, lag and parked changes, from the database."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import msgspec

from bridge.capture.slot import slot_status
from bridge.config import Settings, require_database
from bridge.db import connect, fetch_one
from bridge.migrate import require_migrated
from bridge.sql import query


class _Overview(msgspec.Struct, frozen=True):
    position: str | None
    changes_applied: int | None
    updated_at: datetime | None
    waiting: int
    lag_seconds: Decimal | int | float | None
    parked: int


class StatusReport(msgspec.Struct):
    """`waiting` is outbox rows in trigger mode and WAL bytes behind the slot in logical mode."""

    capture: str
    consumer: str
    position: str | None
    changes_applied: int
    checkpoint_at: datetime | None
    waiting: int
    lag_seconds: float
    parked: int
    extra: dict[str, str] = msgspec.field(default_factory=dict)

    def render(self) -> str:
        lines = [
            f"capture:         {self.capture}",
            f"consumer:        {self.consumer}",
            f"position:        {self.position or '-'}",
            f"changes applied: {self.changes_applied}",
            f"checkpoint at:   {self.checkpoint_at or '-'}",
        ]
        if self.capture != "logical":
            # Logical mode has no outbox: its waiting and lag are the slot's lines below.
            lines.append(f"waiting:         {self.waiting}")
            lines.append(f"lag:             {self.lag_seconds:.3f} s")
        lines.append(f"parked changes:  {self.parked}")
        lines += [f"{k + ':':<17}{v}" for k, v in self.extra.items()]
        return "\n".join(lines)


async def collect_status(settings: Settings) -> StatusReport:
    consumer = f"{settings.capture}:{settings.consumer_name}"
    async with await connect(require_database(settings), autocommit=True) as conn:
        await require_migrated(conn)
        row = await fetch_one(conn, _Overview, query("status_overview"), {"consumer": consumer})
        logical = settings.capture == "logical"
        slot = await slot_status(conn, settings, consumer) if logical else None
    assert row is not None
    waiting, lag = row.waiting, row.lag_seconds
    extra: dict[str, str] = {}
    if slot is not None:
        # The outbox is empty in logical mode: what waits is WAL behind the slot.
        waiting, lag, extra = slot.behind_bytes, slot.seconds, slot.lines
    return StatusReport(
        settings.capture,
        consumer,
        row.position,
        int(row.changes_applied or 0),
        row.updated_at,
        int(waiting or 0),
        float(lag or 0.0),
        int(row.parked or 0),
        extra,
    )
