"""Catalog projector: which hotels' hotel and room-type caches a batch of changes makes stale."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from bridge.changes import Change

# Room-type documents carry sellable room counts and capacity, so rooms count for them too.
TABLES = frozenset({"hotels", "room_types", "rooms"})


class CatalogDirty(msgspec.Struct, gc=False):
    """Hotels whose cached hotel document / room-type list a batch changed, with change counts.

    `everything_*` is set by a truncate, after which any hotel may have changed.
    """

    hotels: dict[int, int] = msgspec.field(default_factory=dict)
    room_types: dict[int, int] = msgspec.field(default_factory=dict)
    everything_hotels: bool = False
    everything_room_types: bool = False

    def __bool__(self) -> bool:
        return bool(
            self.hotels or self.room_types or self.everything_hotels or self.everything_room_types
        )


def _hotel_of(change: Change, column: str) -> int | None:
    value = change.row.get(column, change.pk.get(column))
    return None if value is None else int(value)


def project(changes: Iterable[Change]) -> CatalogDirty:
    dirty = CatalogDirty()
    for change in changes:
        if change.table not in TABLES:
            continue
        hotels_table = change.table == "hotels"
        if change.op == "truncate":
            if hotels_table:
                dirty.everything_hotels = True
            else:
                dirty.everything_room_types = True
            continue
        hotel_id = _hotel_of(change, "id" if hotels_table else "hotel_id")
        if hotel_id is None:
            continue
        counts = dirty.hotels if hotels_table else dirty.room_types
        counts[hotel_id] = counts.get(hotel_id, 0) + 1
        if hotels_table and change.op == "delete":
            # A deleted hotel takes its room types with it (ON DELETE CASCADE).
            dirty.room_types[hotel_id] = dirty.room_types.get(hotel_id, 0)
    return dirty
