"""Prices projector: which hotels' nightly plan prices a batch of plan and rate changes touches."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from bridge.changes import Change

TABLES = frozenset({"plans_hotel", "plans_rates"})


class PricesDirty(msgspec.Struct, gc=False):
    """Hotels to reprice, global plans whose hotels to reprice, or everything (a truncate)."""

    hotels: set[int] = msgspec.field(default_factory=set)
    global_plans: set[int] = msgspec.field(default_factory=set)
    everything: bool = False

    def __bool__(self) -> bool:
        return bool(self.everything or self.hotels or self.global_plans)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def project(changes: Iterable[Change]) -> PricesDirty:
    dirty = PricesDirty()
    for change in changes:
        if change.table not in TABLES:
            continue
        if change.op == "truncate":
            dirty.everything = True
            continue
        rows = [r for r in (change.old, change.new) if r]
        if not rows:
            rows = [change.pk]
        for row in rows:
            hotel_id = _int(row.get("hotel_id"))
            if change.table == "plans_hotel":
                if hotel_id is not None:
                    dirty.hotels.add(hotel_id)
                # The plan's global id moves which global rates apply: the hotel covers it.
                continue
            if hotel_id is not None:
                dirty.hotels.add(hotel_id)
                continue
            global_id = _int(row.get("plans_global_id"))
            if global_id is not None:
                dirty.global_plans.add(global_id)
            elif len(row) <= len(change.pk):
                # Only the key of a global rate is known: any hotel may use it.
                dirty.everything = True
    return dirty
