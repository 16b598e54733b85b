"""The sync projector: one pending mark per booking a batch changed, with its last operation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from bridge.changes import Change, Op
from bridge.projectors.sync_status import SyncMark, project

T0 = datetime(2026, 11, 26, tzinfo=UTC)
A = uuid.UUID("00000000-0000-4000-8000-00000000000a")
B = uuid.UUID("00000000-0000-4000-8000-00000000000b")


def change(
    table: str,
    op: Op,
    old: dict[str, Any] | None,
    new: dict[str, Any] | None,
    seconds: int = 0,
    xid: int = 1,
) -> Change:
    row = new if new is not None else (old or {})
    pk: dict[str, Any] = {k: row[k] for k in ("hotel_id", "id") if k in row}
    return Change(1, xid, T0 + timedelta(seconds=seconds), table, op, pk, old, new)


def res(booking: uuid.UUID, status: str = "confirmed") -> dict[str, Any]:
    return {"hotel_id": 1, "id": str(booking), "status": status}


def night(booking: uuid.UUID) -> dict[str, Any]:
    return {
        "hotel_id": 1,
        "id": str(uuid.uuid4()),
        "reservation_id": str(booking),
        "date": "2026-12-01",
        "room_id": 3,
    }


def test_one_mark_per_booking_and_the_last_change_time_wins() -> None:
    marks = project(
        [
            change("reservations", "update", res(A), res(A, "cancelled"), 1, xid=7),
            change("reservation_details", "update", night(A), night(A), 2, xid=8),
            change("reservations", "update", res(B), res(B, "hold"), 3, xid=9),
        ]
    )
    # Each booking's mark carries every transaction its changes in the batch came from.
    assert sorted(marks, key=lambda m: m.booking_id) == [
        SyncMark(1, A, "update", T0 + timedelta(seconds=2), (7, 8)),
        SyncMark(1, B, "update", T0 + timedelta(seconds=3), (9,)),
    ]


def test_a_new_booking_stays_an_insert_through_its_details() -> None:
    marks = project(
        [
            change("reservations", "insert", None, res(A)),
            change("reservation_details", "insert", None, night(A), 1),
        ]
    )
    assert marks == [SyncMark(1, A, "insert", T0 + timedelta(seconds=1), (1,))]


def test_a_deleted_booking_is_marked_delete() -> None:
    marks = project(
        [
            change("reservation_details", "delete", night(A), None),
            change("reservations", "delete", res(A), None, 1),
        ]
    )
    assert marks == [SyncMark(1, A, "delete", T0 + timedelta(seconds=1), (1,))]


def test_other_tables_and_truncates_mark_nothing() -> None:
    truncate = Change(1, 1, T0, "reservations", "truncate", {})
    room = change("rooms", "update", {"hotel_id": 1, "id": 2}, {"hotel_id": 1, "id": 2})
    detail_without_booking = change(
        "reservation_details", "insert", None, {"hotel_id": 1, "id": str(A)}
    )
    assert project([truncate, room, detail_without_booking]) == []
