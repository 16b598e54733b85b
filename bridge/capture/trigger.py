"""Trigger capture: reads the outbox the capture trigger fills, woken by NOTIFY or a poll.

Outbox ids come from a sequence, so they are not commit order: a transaction that took id 10
can commit after id 11 was consumed. The consumer never keeps a high-water mark. It reads
whatever rows are visible (visible means committed) and deletes exactly those rows in the
transaction that applies their effects. A row of a transaction still in flight is invisible
and simply stays until a later batch, so nothing can be skipped; a crash before the commit
leaves the rows in place, so they are applied again, idempotently.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec
import psycopg

from bridge import heartbeat
from bridge.capture.install import primary_keys
from bridge.changes import OPS_BY_CODE, Batch, Change, RawReject
from bridge.db import connect, fetch_all, fetch_one
from bridge.sql import query


class OutboxRow(msgspec.Struct, frozen=True):
    id: int
    txid: int
    captured_at: datetime
    table_name: str
    op: str
    old_row: Any
    new_row: Any


class OutboxLag(msgspec.Struct, frozen=True):
    rows: int
    seconds: Decimal | None


class TriggerSource:
    name = "trigger"
    reads_ahead = False

    def __init__(
        self,
        database_url: str,
        tables: tuple[str, ...],
        *,
        batch_size: int = 2000,
        poll_interval: float = 0.5,
    ) -> None:
        self.database_url = database_url
        self.tables = tables
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._keys: dict[str, tuple[str, ...]] = {}
        self.capture_gap_since: datetime | None = None

    async def open(self, checkpoint: int | None, *, captured_until: datetime | None = None) -> None:
        self._conn = await connect(self.database_url, autocommit=True)
        await self._conn.execute(query("outbox_listen"))
        self._keys = await primary_keys(self._conn, self.tables)

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None:
            raise RuntimeError("TriggerSource.open() was not called")
        return self._conn

    async def _fetch(self) -> list[OutboxRow]:
        conn = self._connection()
        return await fetch_all(conn, OutboxRow, query("outbox_fetch"), {"limit": self.batch_size})

    async def _wait_for_notify(self, seconds: float) -> None:
        # psycopg keeps notifications that arrive during other queries in a backlog that
        # notifies() hands out first, so a NOTIFY racing the last fetch is never missed.
        async for _ in self._connection().notifies(timeout=seconds, stop_after=1):
            pass

    async def heartbeat(self, emitted_at: datetime) -> None:
        await self._connection().execute(
            query("outbox_heartbeat"),
            {
                "table_name": heartbeat.PREFIX,
                "op": heartbeat.OUTBOX_OP,
                "payload": heartbeat.payload(emitted_at),
            },
        )

    async def next_batch(self) -> Batch | None:
        rows = await self._fetch()
        if rows:
            if len(rows) < self.batch_size:
                # Keep the backlog short; the caller fetches again right after this batch.
                await self._wait_for_notify(0)
            return self._decode(rows)
        # The timeout is the backstop that makes a lost notification cost a poll, not a change.
        await self._wait_for_notify(self.poll_interval)
        rows = await self._fetch()
        return self._decode(rows) if rows else None

    def _decode(self, rows: list[OutboxRow]) -> Batch:
        changes: list[Change] = []
        rejects: list[RawReject] = []
        heartbeats: list[heartbeat.Heartbeat] = []
        for row in rows:
            if row.op == heartbeat.OUTBOX_OP and row.table_name == heartbeat.PREFIX:
                # Claimed with the batch; one that does not parse is dropped, not parked.
                new = row.new_row if isinstance(row.new_row, dict) else {}
                found = heartbeat.parse(new, row.captured_at)
                if found is not None:
                    heartbeats.append(found)
                continue
            try:
                changes.append(
                    outbox_change(
                        self._keys,
                        row.id,
                        row.txid,
                        row.captured_at,
                        row.table_name,
                        row.op,
                        row.old_row,
                        row.new_row,
                    )
                )
            except (KeyError, ValueError, TypeError, msgspec.ValidationError) as exc:
                payload = {"old": row.old_row, "new": row.new_row}
                error = f"{type(exc).__name__}: {exc}"
                # Parked with the op's name, as a validated change would be ("X" stays "X").
                op = OPS_BY_CODE.get(row.op, row.op)
                rejects.append(RawReject(row.id, row.table_name, op, payload, error))
        claim = [row.id for row in rows]
        return Batch(changes, rows[-1].id, rejects, claim=claim, heartbeats=heartbeats)

    async def batch_waiting(self) -> None:
        # Never read ahead (reads_ahead is False): the outbox is read only when asked.
        raise NotImplementedError("the trigger source does not read ahead")

    async def claim(self, conn: psycopg.AsyncConnection[Any], batch: Batch) -> None:
        cur = await conn.execute(query("outbox_claim"), {"ids": batch.claim})
        if cur.rowcount != len(batch.claim):
            raise RuntimeError(
                f"claimed {cur.rowcount} of {len(batch.claim)} outbox rows: another consumer?"
            )

    async def acknowledge(self, batch: Batch) -> None:
        return None

    async def lag(self) -> tuple[float, float]:
        row = await fetch_one(self._connection(), OutboxLag, query("outbox_lag"))
        if row is None:
            return 0.0, 0.0
        return float(row.rows), float(row.seconds or 0.0)


def outbox_change(
    keys: dict[str, tuple[str, ...]],
    outbox_id: int,
    txid: int,
    captured_at: Any,
    table: str,
    code: str,
    old: Any,
    new: Any,
) -> Change:
    """The Change an outbox row stands for, given the watched tables' primary keys; raises
    KeyError, TypeError or ValueError for a row that is not one (it is parked as it was read)."""
    op = OPS_BY_CODE[code]
    columns = keys.get(table)
    if columns is None:
        raise KeyError(f"table {table!r} is not watched")
    if old is not None and not isinstance(old, dict):
        raise TypeError("old_row is not a JSON object")
    if new is not None and not isinstance(new, dict):
        raise TypeError("new_row is not a JSON object")
    pk: dict[str, Any] = {}
    if op != "truncate":
        row = new if new is not None else old
        if row is None:
            raise ValueError(f"{op} without a row")
        pk = {column: row[column] for column in columns}
    return Change(outbox_id, txid, captured_at, table, op, pk, old, new)
