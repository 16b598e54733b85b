"""Sync-status sink: upserts a batch's booking_sync_status marks in one statement."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from bridge.changes import xid_array
from bridge.projectors.sync_status import SyncMark
from bridge.sql import query


async def apply(conn: psycopg.AsyncConnection[Any], marks: Sequence[SyncMark]) -> None:
    if not marks:
        return
    await conn.execute(
        query("sync_mark_pending"),
        {
            "hotel_ids": [m.hotel_id for m in marks],
            "booking_ids": [m.booking_id for m in marks],
            "ops": [m.op for m in marks],
            "changed_at": [m.changed_at.replace(tzinfo=None) for m in marks],
            "xids": [xid_array(m.xids) for m in marks],
        },
    )
