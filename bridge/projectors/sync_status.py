"""Sync projector: every reservation change marks its booking_sync_status row pending."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

import msgspec

from bridge.changes import Change, Op

TABLES = frozenset({"reservations", "reservation_details"})


class SyncMark(msgspec.Struct, frozen=True, gc=False):
    hotel_id: int
    booking_id: uuid.UUID
    op: Op
    changed_at: datetime
    # The transactions the batch's changes of this booking came from: when every one is the
    # booking engine's own write through the API, the mark is its echo and not written.
    xids: tuple[int, ...] = ()


def project(changes: Iterable[Change]) -> list[SyncMark]:
    """The last change of each booking in the batch wins, so one row per booking is written."""
    marks: dict[tuple[int, uuid.UUID], SyncMark] = {}
    for change in changes:
        if change.table not in TABLES or change.op == "truncate":
            continue
        row = change.row
        if change.table == "reservations":
            booking = row.get("id", change.pk.get("id"))
            op: Op = change.op
        else:
            booking = row.get("reservation_id")
            op = "update"
        if booking is None:
            continue
        hotel_id = int(row.get("hotel_id", change.pk.get("hotel_id", 0)))
        booking_id = booking if isinstance(booking, uuid.UUID) else uuid.UUID(str(booking))
        key = (hotel_id, booking_id)
        previous = marks.get(key)
        if previous is not None and previous.op in ("insert", "delete") and op == "update":
            op = previous.op  # a new or deleted booking stays new or deleted within a batch
        xids = previous.xids if previous is not None else ()
        if change.xid not in xids:
            xids = (*xids, change.xid)
        marks[key] = SyncMark(hotel_id, booking_id, op, change.committed_at, xids)
    return list(marks.values())
