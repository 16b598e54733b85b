"""Availability projector: which (hotel, room type, night) keys a batch of changes makes dirty."""

from __future__ import annotations

# Availability is the PMS's own count (sql/queries/availability.sql): a room is taken on a
# night by any detail row with `cancelled IS NULL`, whatever its reservation's status. So only
# reservation_details, rooms and room_types move it. A reservation's own row never does: the
# PMS cancels by setting `cancelled` on the nights, deleting a reservation deletes its nights
# (explicitly in the PMS, or by the foreign key's cascade, which capture sees as row deletes),
# and a reservation cannot be truncated without its nights (the foreign key), so the nights'
# own changes and truncate markers carry every effect.
from collections.abc import Iterable
from datetime import date

import msgspec

from bridge.changes import Change
from bridge.rows import ReservationDetailRow, RoomRow, RoomTypeRow, typed

TABLES = frozenset({"rooms", "room_types", "reservation_details"})


class AvailabilityDirty(msgspec.Struct, gc=False):
    """Dirty keys in the three shapes the recompute query resolves in one round trip."""

    nights: set[tuple[int, int, date]] = msgspec.field(default_factory=set)
    room_types: set[tuple[int, int]] = msgspec.field(default_factory=set)
    keys: set[tuple[int, int, date]] = msgspec.field(default_factory=set)
    everything: bool = False

    def __bool__(self) -> bool:
        return bool(self.everything or self.nights or self.room_types or self.keys)

    def merge(self, other: AvailabilityDirty) -> None:
        self.nights |= other.nights
        self.room_types |= other.room_types
        self.keys |= other.keys
        self.everything = self.everything or other.everything


def project(changes: Iterable[Change]) -> AvailabilityDirty:
    dirty = AvailabilityDirty()
    for change in changes:
        if change.table not in TABLES:
            continue
        if change.op == "truncate":
            # A truncated table can touch any key: recompute the whole horizon.
            dirty.everything = True
            continue
        if change.table == "reservation_details":
            for detail in (
                typed(change.old, ReservationDetailRow),
                typed(change.new, ReservationDetailRow),
            ):
                if detail is not None and detail.room_id is not None:
                    dirty.nights.add((detail.hotel_id, detail.room_id, detail.date))
        elif change.table == "rooms":
            for room in (typed(change.old, RoomRow), typed(change.new, RoomRow)):
                if room is not None:
                    dirty.room_types.add((room.hotel_id, room.room_type_id))
        elif change.table == "room_types":
            room_type = typed(change.new, RoomTypeRow) or typed(change.old, RoomTypeRow)
            if room_type is not None:
                dirty.room_types.add((room_type.hotel_id, room_type.id))
            elif change.pk:
                dirty.room_types.add((int(change.pk["hotel_id"]), int(change.pk["id"])))
    return dirty
