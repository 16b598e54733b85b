"""Prices projector: which hotels' nightly plan prices a batch of plan and rate changes touches."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from bridge.changes import Change

TABLES = frozenset({"plans_hotel", "plans_rates", "plans_global", "hotel_plan_exclusions"})


class PricesDirty(msgspec.Struct, gc=False):
    """Hotels to reprice, global plans whose hotels to reprice, or everything (a truncate)."""

    hotels: set[int] = msgspec.field(default_factory=set)
    global_plans: set[int] = msgspec.field(default_factory=set)
    everything: bool = False

    def __bool__(self) -> bool:
        return bool(self.everything or self.hotels or self.global_plans)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _mark(dirty: PricesDirty, table: str, row: dict[str, Any], key_only: bool) -> None:
    hotel_id = _int(row.get("hotel_id"))
    if table == "plans_global":
        # Every hotel that does not exclude it sells a global plan.
        dirty.global_plans.add(int(row["id"]))
    elif table in ("plans_hotel", "hotel_plan_exclusions"):
        # A hotel plan's global id moves which global rates apply: the hotel covers it.
        if hotel_id is not None:
            dirty.hotels.add(hotel_id)
        elif key_only:
            dirty.everything = True
    else:
        # The PMS applies a global plan's rates whatever their hotel_id.
        global_id = _int(row.get("plans_global_id"))
        if global_id is not None:
            dirty.global_plans.add(global_id)
        elif hotel_id is not None:
            dirty.hotels.add(hotel_id)
        elif key_only:
            # Only the key of a rate is known: any hotel may use it.
            dirty.everything = True


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
            _mark(dirty, change.table, row, len(row) <= len(change.pk))
    return dirty
