"""The availability projector: which (hotel, room type, night) keys a batch makes dirty."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from bridge.changes import Change, Op
from bridge.projectors.availability import AvailabilityDirty, project

NOW = datetime(2026, 11, 26, tzinfo=UTC)
RES = uuid.UUID("00000000-0000-4000-8000-000000000001")
DETAIL = uuid.UUID("00000000-0000-4000-8000-000000000002")


def change(
    table: str, op: Op, old: dict[str, Any] | None = None, new: dict[str, Any] | None = None
) -> Change:
    row = new if new is not None else (old or {})
    pk: dict[str, Any] = {k: row[k] for k in ("hotel_id", "id") if k in row}
    return Change(1, 1, NOW, table, op, pk, old, new)


def detail(night: str, room_id: int | None = 7, cancelled: str | None = None) -> dict[str, Any]:
    return {
        "hotel_id": 1,
        "id": str(DETAIL),
        "reservation_id": str(RES),
        "date": night,
        "room_id": room_id,
        "cancelled": cancelled,
    }


def reservation(status: str, comment: str = "") -> dict[str, Any]:
    return {"hotel_id": 1, "id": str(RES), "status": status, "comment": comment}


def test_a_detail_move_dirties_the_old_and_the_new_night() -> None:
    dirty = project(
        [change("reservation_details", "update", detail("2026-12-01", 7), detail("2026-12-02", 9))]
    )
    assert dirty.nights == {(1, 7, date(2026, 12, 1)), (1, 9, date(2026, 12, 2))}
    assert not dirty.room_types and not dirty.everything


def test_a_detail_without_a_room_dirties_nothing() -> None:
    assert not project([change("reservation_details", "insert", None, detail("2026-12-01", None))])


def test_a_cancelled_night_dirties_its_night_whatever_the_status() -> None:
    cancel = change(
        "reservation_details",
        "update",
        detail("2026-12-01"),
        detail("2026-12-01", cancelled=str(uuid.uuid4())),
    )
    assert project([cancel]).nights == {(1, 7, date(2026, 12, 1))}


def test_a_reservations_own_row_dirties_nothing() -> None:
    # The PMS counts a room taken by its night rows alone: a status-only cancel, any other
    # edit, an insert, a delete (its nights' deletes follow) or a truncate of reservations
    # (impossible without truncating its nights, the foreign key) moves no availability.
    status = change("reservations", "update", reservation("confirmed"), reservation("cancelled"))
    edit = change("reservations", "update", reservation("confirmed"), reservation("confirmed", "x"))
    insert = change("reservations", "insert", None, reservation("confirmed"))
    delete = change("reservations", "delete", reservation("confirmed"), None)
    truncate = Change(1, 1, NOW, "reservations", "truncate", {})
    assert not project([status, edit, insert, delete, truncate])


def test_room_and_room_type_changes_dirty_whole_room_types() -> None:
    room_old = {"hotel_id": 2, "id": 5, "room_type_id": 3, "for_sale": True}
    room_new = {**room_old, "room_type_id": 4}
    room_type = {"hotel_id": 2, "id": 8, "name": "Suite"}
    dirty = project(
        [
            change("rooms", "update", room_old, room_new),
            change("room_types", "delete", room_type, None),
        ]
    )
    assert dirty.room_types == {(2, 3), (2, 4), (2, 8)}


def test_a_truncate_dirties_everything_and_other_tables_nothing() -> None:
    truncate = Change(1, 1, NOW, "reservation_details", "truncate", {})
    assert project([truncate]).everything
    client = change("clients", "insert", None, {"id": str(RES), "name": "Guest"})
    hotel = change("hotels", "update", {"id": 1, "name": "a"}, {"id": 1, "name": "b"})
    assert not project([client, hotel])


def test_merge_unions_keys() -> None:
    a = project([change("reservation_details", "insert", None, detail("2026-12-01"))])
    b = AvailabilityDirty(everything=True)
    a.merge(b)
    assert a.everything and a.nights == {(1, 7, date(2026, 12, 1))}
