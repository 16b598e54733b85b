"""Typed views of the PMS rows the projectors read; a row that does not fit is malformed."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any, TypeVar

import msgspec

from bridge.changes import Change


class HotelRow(msgspec.Struct, frozen=True):
    id: int
    name: str


class RoomTypeRow(msgspec.Struct, frozen=True):
    hotel_id: int
    id: int
    name: str


class RoomRow(msgspec.Struct, frozen=True):
    hotel_id: int
    id: int
    room_type_id: int
    for_sale: bool | None = True
    is_staff_room: bool | None = False


class ReservationRow(msgspec.Struct, frozen=True):
    hotel_id: int
    id: uuid.UUID
    status: str
    check_in: date | None = None
    check_out: date | None = None
    type: str | None = None


class ReservationDetailRow(msgspec.Struct, frozen=True):
    hotel_id: int
    id: uuid.UUID
    reservation_id: uuid.UUID
    date: date
    room_id: int | None = None
    cancelled: uuid.UUID | None = None


class ClientRow(msgspec.Struct, frozen=True):
    id: uuid.UUID
    name: str


ROW_TYPES: dict[str, type[msgspec.Struct]] = {
    "hotels": HotelRow,
    "room_types": RoomTypeRow,
    "rooms": RoomRow,
    "reservations": ReservationRow,
    "reservation_details": ReservationDetailRow,
    "clients": ClientRow,
}

T = TypeVar("T", bound=msgspec.Struct)


class MalformedChange(ValueError):
    """A change whose rows do not have the shape the PMS schema promises."""


def typed(row: dict[str, Any] | None, row_type: type[T]) -> T | None:
    if row is None:
        return None
    return msgspec.convert(row, row_type, strict=False)


def validate(change: Change) -> None:
    """Raise MalformedChange when a change could not be projected; cheap enough per change."""
    if change.op == "truncate":
        return
    if change.op in ("insert", "update") and change.new is None:
        raise MalformedChange(f"{change.op} on {change.table} without a new row")
    if change.op == "delete" and change.old is None and not change.pk:
        raise MalformedChange(f"delete on {change.table} without an old row or key")
    row_type = ROW_TYPES.get(change.table)
    if row_type is None:
        return
    try:
        typed(change.new, row_type)
        if change.old is not None and len(change.old) > len(change.pk):
            typed(change.old, row_type)
    except msgspec.ValidationError as exc:
        raise MalformedChange(f"{change.table}: {exc}") from exc
