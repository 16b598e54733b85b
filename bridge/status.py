"""`pms-bridge status`: the consumer's checkpoint, lag and parked changes, from the database."""

from __future__ import annotations

from datetime import datetime

import msgspec

from bridge.config import Settings, require_database
from bridge.db import connect
from bridge.sql import query


class StatusReport(msgspec.Struct):
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
            f"waiting:         {self.waiting}",
            f"lag:             {self.lag_seconds:.3f} s",
            f"parked changes:  {self.parked}",
        ]
        lines += [f"{k + ':':<17}{v}" for k, v in self.extra.items()]
        return "\n".join(lines)


async def collect_status(settings: Settings) -> StatusReport:
    consumer = f"{settings.capture}:{settings.consumer_name}"
    async with await connect(require_database(settings), autocommit=True) as conn:
        cur = await conn.execute(query("status_overview"), {"consumer": consumer})
        row = await cur.fetchone()
        extra: dict[str, str] = {}
        if settings.capture == "logical":
            from bridge.capture.slot import status_lines

            extra = await status_lines(conn, settings, consumer)
    assert row is not None
    position, applied, checkpoint_at, waiting, lag, parked = row
    return StatusReport(
        settings.capture, consumer, position, int(applied or 0), checkpoint_at,
        int(waiting or 0), float(lag or 0.0), int(parked or 0), extra,
    )  # fmt: skip
