"""The consumer's checkpoint: the last applied position, written in the apply transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
import psycopg

from bridge.sql import query


class Checkpoint(msgspec.Struct, frozen=True):
    position: int
    changes_applied: int
    last_captured_at: datetime | None


async def load(conn: psycopg.AsyncConnection[Any], consumer: str) -> Checkpoint | None:
    cur = await conn.execute(query("checkpoint_load"), {"consumer": consumer})
    row = await cur.fetchone()
    if row is None:
        return None
    return Checkpoint(int(row[0]), int(row[1]), row[2])


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
