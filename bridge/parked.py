"""Parked changes (pms_bridge.parked_changes): list, show, another try through the stages, drop.

A change is parked when it could not be applied (malformed, or failing on its data in SQL),
so that the stream goes on. Once the cause is fixed (the PMS row corrected, the bridge
upgraded) it is given another try through the same stages and savepoint as a poison batch's
changes (`pipeline.apply_change`): its projectors recompute from the PMS's current state, so
a late apply writes what is true now. A try that fails again leaves it parked with the new
error.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec
import psycopg

from bridge.capture.trigger import outbox_change
from bridge.changes import OPS_BY_CODE, Change
from bridge.db import fetch_all, fetch_one
from bridge.errors import NotFound
from bridge.pipeline import POISON, Stage, apply_change
from bridge.rows import MalformedChange, validate
from bridge.sql import query

_CODES: dict[str, str] = {name: code for code, name in OPS_BY_CODE.items()}
# What rebuilding a Change from a parked payload can raise: it is still not a change.
_NOT_A_CHANGE = (MalformedChange, KeyError, TypeError, ValueError, msgspec.ValidationError)


class ParkedNotFound(NotFound):
    """No parked change of that id (for that hotel)."""

    def __init__(self, detail: str) -> None:
        super().__init__("not_found", detail)


class Parked(msgspec.Struct, kw_only=True):
    id: int
    consumer: str
    position: str
    table_name: str | None
    op: str | None
    error: str
    parked_at: datetime
    # The hotel the change belongs to, when it names one (pms_bridge.parked_hotel).
    hotel_id: int | None
    # The change as it was parked; only `show` carries it.
    payload: dict[str, Any] | None = None


class RetryResult(msgspec.Struct, kw_only=True):
    id: int
    applied: bool
    # Why it is still parked, when it is.
    error: str | None = None


async def list_parked(
    conn: psycopg.AsyncConnection[Any], hotel_id: int | None, limit: int = 1000
) -> list[Parked]:
    params = {"hotel_id": hotel_id, "limit": limit}
    return await fetch_all(conn, Parked, query("parked_list"), params)


async def _get(conn: psycopg.AsyncConnection[Any], parked_id: int, hotel_id: int | None) -> Parked:
    params = {"id": parked_id, "hotel_id": hotel_id}
    found = await fetch_one(conn, Parked, query("parked_get"), params)
    if found is None:
        raise ParkedNotFound(f"no parked change {parked_id}")
    return found


async def show(conn: psycopg.AsyncConnection[Any], parked_id: int, hotel_id: int | None) -> Parked:
    """One parked change with its payload; ParkedNotFound if it is not (that hotel's)."""
    async with conn.transaction():
        return await _get(conn, parked_id, hotel_id)


def change_of(parked: Parked, keys: dict[str, tuple[str, ...]]) -> Change:
    """The Change a parked row stands for: the Change itself when the bridge parked it, or
    the outbox row's old and new rows when the trigger source could not read them."""
    payload = parked.payload or {}
    if "committed_at" in payload:
        return msgspec.convert(payload, Change)
    op = parked.op or ""
    return outbox_change(
        keys,
        int(parked.position),
        0,
        parked.parked_at,
        parked.table_name or "",
        _CODES.get(op, op),
        payload.get("old"),
        payload.get("new"),
    )


async def retry(
    conn: psycopg.AsyncConnection[Any],
    stages: Sequence[Stage],
    keys: dict[str, tuple[str, ...]],
    parked_id: int,
    hotel_id: int | None,
) -> RetryResult:
    """Another try of one parked change through the stages, in one transaction: applied and
    removed, or left parked with the new error. `keys` are the watched tables' primary keys
    (for a change the trigger source could not read)."""
    async with conn.transaction():
        parked = await _get(conn, parked_id, hotel_id)
        try:
            change = change_of(parked, keys)
            validate(change)
        except _NOT_A_CHANGE as exc:
            error = f"{type(exc).__name__}: {exc}"
        else:
            try:
                await apply_change(conn, stages, change)
            except POISON as exc:
                error = str(exc)
            else:
                await conn.execute(query("parked_remove"), {"id": parked_id})
                return RetryResult(id=parked_id, applied=True)
        await conn.execute(query("parked_failed_again"), {"id": parked_id, "error": error})
        return RetryResult(id=parked_id, applied=False, error=error)


async def drop(conn: psycopg.AsyncConnection[Any], parked_id: int, hotel_id: int | None) -> Parked:
    """Removes a parked change for good and returns it as it was."""
    async with conn.transaction():
        parked = await _get(conn, parked_id, hotel_id)
        await conn.execute(query("parked_remove"), {"id": parked_id})
    return parked
