"""The Change record: one committed row change, the only type that leaves a capture source."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from bridge.heartbeat import Heartbeat

Op = Literal["insert", "update", "delete", "truncate"]

OPS_BY_CODE: dict[str, Op] = {"I": "insert", "U": "update", "D": "delete", "T": "truncate"}


class Change(msgspec.Struct, frozen=True, gc=False):
    """A row change as committed in the PMS, from either capture source.

    `position` orders changes within one source (outbox id or LSN); `xid` is the 32-bit
    transaction id (logical decoding knows no epoch); `table` is the partition root's name;
    `old` is present for update and delete (as far as the source knows it), `new` for insert
    and update.
    """

    position: int
    xid: int
    committed_at: datetime
    table: str
    op: Op
    pk: dict[str, Any]
    old: dict[str, Any] | None = None
    new: dict[str, Any] | None = None

    @property
    def row(self) -> dict[str, Any]:
        """The row as it is after the change, or as it was before a delete."""
        return self.new if self.new is not None else (self.old or {})

    def anything_in_table(self) -> Change:
        """A change standing for "any row of this table may have changed", as a truncate
        does: every cache built from the table is recomputed. For when the rows a change
        moved away from are unknown."""
        return Change(self.position, self.xid, self.committed_at, self.table, "truncate", {})


class Batch(msgspec.Struct, gc=False):
    """Changes of committed transactions, in commit order, up to `position` inclusive."""

    changes: list[Change]
    position: int
    raw_rejects: list[RawReject] = msgspec.field(default_factory=list)
    # Source-specific handle on what to mark consumed (outbox ids for the trigger source).
    claim: list[int] = msgspec.field(default_factory=list)
    # Heartbeats that came back with these transactions (bridge/heartbeat.py): not changes.
    heartbeats: list[Heartbeat] = msgspec.field(default_factory=list)


class RawReject(msgspec.Struct, frozen=True):
    """Something a source read but could not turn into a Change."""

    position: int
    table: str | None
    op: str | None
    payload: dict[str, Any]
    error: str


def xid_array(xids: tuple[int, ...]) -> str:
    """A booking's transactions as one PostgreSQL array literal: a batch binds one per
    booking, and the lists differ in length, which a bound 2-D array cannot hold."""
    return "{" + ",".join(str(xid) for xid in xids) + "}"
