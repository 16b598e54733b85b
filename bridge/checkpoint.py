"""The consumer's checkpoint: the last applied position, written in the apply transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
import psycopg

from bridge.db import fetch_one
from bridge.sql import query


class Checkpoint(msgspec.Struct, frozen=True):
    position: int
    changes_applied: int
    last_captured_at: datetime | None
    updated_at: datetime | None = None
    # A capture gap not yet reconciled (sql/bridge/140_capture_gap.sql).
    capture_gap_since: datetime | None = None


def _loaded(
    *,
    position: str,
    changes_applied: int,
    last_captured_at: datetime | None,
    updated_at: datetime | None,
    capture_gap_since: datetime | None,
) -> Checkpoint:
    """A checkpoint_load row; the position is stored as text (an LSN or outbox id)."""
    return Checkpoint(
        int(position), int(changes_applied), last_captured_at, updated_at, capture_gap_since
    )


async def load(conn: psycopg.AsyncConnection[Any], consumer: str) -> Checkpoint | None:
    return await fetch_one(conn, _loaded, query("checkpoint_load"), {"consumer": consumer})


async def save(
    conn: psycopg.AsyncConnection[Any],
    consumer: str,
    position: int,
    applied: int,
    last_captured_at: datetime | None,
) -> None:
    await conn.execute(
        query("checkpoint_save"),
        {
            "consumer": consumer,
            "position": str(position),
            "applied": applied,
            "last_captured_at": last_captured_at,
        },
    )


async def record_gap(conn: psycopg.AsyncConnection[Any], consumer: str, since: datetime) -> None:
    await conn.execute(query("checkpoint_record_gap"), {"consumer": consumer, "since": since})


async def gap_repaired(conn: psycopg.AsyncConnection[Any], consumer: str, since: datetime) -> None:
    await conn.execute(query("checkpoint_gap_repaired"), {"consumer": consumer, "since": since})
