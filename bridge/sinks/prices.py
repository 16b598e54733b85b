"""Prices sink: a batch's dirty hotels repriced in one query and written in one cache call.

One document per hotel (kind `prices`, key = hotel id) holds every plan's nightly prices over
the horizon, so a hotel's pricing over any range is one cache read.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import msgspec
import psycopg

from bridge.cache.base import Cache
from bridge.changes import Change
from bridge.db import fetch_all
from bridge.horizon import Horizon
from bridge.live_status import Moves
from bridge.projectors import prices
from bridge.projectors.prices import PricesDirty
from bridge.sql import query

PRICES = "prices"


class NightPrice(msgspec.Struct, frozen=True, array_like=True, gc=False):
    date: date
    price: Decimal


class PlanPrices(msgspec.Struct, frozen=True):
    """A plan the hotel sells and its price on each night that has one.

    plan_key is the PMS's own key ("<global>h<hotel plan>", "h<hotel plan>", "<global>h");
    plan_id is the hotel plan's id, None for a global plan the hotel sells as it is.
    """

    plan_key: str
    plan_id: int | None
    plans_global_id: int | None
    name: str
    plan_type: str | None
    nights: list[NightPrice]

    def is_plan(self, plan_id: int | None, plan_key: str | None) -> bool:
        """Whether this is the plan a request names by id, by key, or both."""
        return (plan_id is None or plan_id == self.plan_id) and (
            plan_key is None or plan_key == self.plan_key
        )


class HotelPrices(msgspec.Struct, frozen=True):
    hotel_id: int
    first_night: date
    last_night: date
    computed_at: datetime
    plans: list[PlanPrices]


class _PlanNight(msgspec.Struct, frozen=True):
    """A plan's price on a night (pms_bridge.plan_night_prices). A hotel without plans has one
    row whose other columns are all NULL; a plan priced on no night of the horizon one row
    whose night and price are NULL."""

    hotel_id: int
    plan_key: str | None
    plan_id: int | None
    plans_global_id: int | None
    name: str
    plan_type: str | None
    night: date | None
    price: int


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(HotelPrices).decode


async def recompute(
    conn: psycopg.AsyncConnection[Any], dirty: PricesDirty, horizon: Horizon
) -> tuple[dict[int, HotelPrices], list[int]]:
    """Fresh documents for every dirty hotel that exists, and the dirty hotels that do not."""
    lo, hi = horizon.bounds()
    rows = await fetch_all(
        conn,
        _PlanNight,
        query("prices_recompute"),
        {
            "everything": dirty.everything,
            "hotel_ids": sorted(dirty.hotels),
            "global_ids": sorted(dirty.global_plans),
            "lo": lo,
            "hi": hi,
        },
    )
    now = datetime.now(UTC)
    plans: dict[int, dict[str, PlanPrices]] = {}
    for row in rows:
        hotel = plans.setdefault(row.hotel_id, {})
        key = row.plan_key
        if key is None:
            continue
        plan = hotel.get(key)
        if plan is None:
            plan = hotel[key] = PlanPrices(
                key, row.plan_id, row.plans_global_id, row.name, row.plan_type, []
            )
        if row.night is not None:
            plan.nights.append(NightPrice(row.night, Decimal(row.price)))
    documents = {
        hotel_id: HotelPrices(hotel_id, lo, hi, now, list(by_plan.values()))
        for hotel_id, by_plan in plans.items()
    }
    gone = [] if dirty.everything else sorted(dirty.hotels - documents.keys())
    return documents, gone


async def apply(
    conn: psycopg.AsyncConnection[Any],
    cache: Cache,
    dirty: PricesDirty,
    horizon: Horizon,
    moves: Moves | None = None,
) -> int:
    """Reprices the dirty hotels; `moves` is told the hotels written (a global plan's
    hotels are known here, from the recompute)."""
    if not dirty:
        return 0
    documents, gone = await recompute(conn, dirty, horizon)
    if dirty.everything:
        gone = [int(k) for k in await cache.document_keys(PRICES) if int(k) not in documents]
    await cache.put_documents(PRICES, {str(h): _encode(d) for h, d in documents.items()})
    await cache.delete_documents(PRICES, [str(h) for h in gone])
    if moves is not None:
        moves.hotels([*documents, *gone])
    return len(documents) + len(gone)


async def read(cache: Cache, hotel_id: int) -> HotelPrices | None:
    """The hotel's cached prices; None when not cached or cached in an older shape (the
    caller recomputes it as if it were missing)."""
    raw = await cache.get_document(PRICES, str(hotel_id))
    if raw is None:
        return None
    try:
        return _decode(raw)
    except msgspec.ValidationError:
        return None


class PricesStage:
    """Plan and rate changes reprice their hotels' plans over the horizon."""

    name = "prices"

    def __init__(self, cache: Cache, horizon: Horizon, moves: Moves | None = None) -> None:
        self.cache = cache
        self.horizon = horizon
        self.moves = moves

    def project(self, changes: Sequence[Change]) -> PricesDirty:
        return prices.project(changes)

    async def apply(self, conn: psycopg.AsyncConnection[Any], dirty: PricesDirty) -> None:
        await apply(conn, self.cache, dirty, self.horizon, self.moves)
