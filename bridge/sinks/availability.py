"""Availability sink: a batch's dirty keys recomputed in one query, written in one round trip."""

from __future__ import annotations

import time
from datetime import date
from typing import Any

import msgspec
import psycopg

from bridge.cache.base import Availability, AvailabilityKey, Cache
from bridge.db import fetch_all
from bridge.horizon import Horizon
from bridge.live_status import Moves
from bridge.projectors.availability import AvailabilityDirty
from bridge.sql import query
from metrics.definitions import availability_keys_written

# Per key is the cheaper plan for up to 1,500 scattered nights and for one room type's
# horizon; counting each dirty hotel-night once is cheaper for a whole hotel's horizon (5
# types x 398 nights), i.e. when most keys share their hotel-nights.
PER_KEY_LIMIT = 1500
# Above this share of its span's hotel-nights dirty, a batch is recomputed over the whole span
# (hash joins) rather than per dirty hotel-night (index probes): a hotel-night probed costs
# about four times its share of the span's scan, so the two are even at 1/4
# (docs/benchmarks/history.md, Trigger mode).
RANGE_SHARE = 0.25


class Span(msgspec.Struct, frozen=True):
    """The hotels and nights a batch's keys can fall in; the range plan scans exactly these."""

    hotels: list[int]
    first: date
    last: date

    def hotel_nights(self) -> int:
        return len(self.hotels) * ((self.last - self.first).days + 1)


def span(dirty: AvailabilityDirty, room_types: set[tuple[int, int]], horizon: Horizon) -> Span:
    lo, hi = horizon.bounds()
    hotels = {n[0] for n in dirty.nights} | {k[0] for k in dirty.keys}
    hotels |= {t[0] for t in room_types}
    dates = [n[2] for n in dirty.nights] + [k[2] for k in dirty.keys]
    if room_types or not dates:
        # A room type's keys are the whole horizon.
        return Span(sorted(hotels), lo, hi)
    return Span(sorted(hotels), max(lo, min(dates)), min(hi, max(dates)))


def plan(
    dirty: AvailabilityDirty, room_types: set[tuple[int, int]], horizon_nights: int, where: Span
) -> str:
    """The recompute query for a batch, by how many keys it will resolve to and how densely."""
    estimate = len(dirty.nights) + len(dirty.keys) + horizon_nights * len(room_types)
    if estimate <= PER_KEY_LIMIT and not dirty.everything:
        return "availability_recompute"
    covered = len({(n[0], n[2]) for n in dirty.nights} | {(k[0], k[2]) for k in dirty.keys})
    covered += horizon_nights * len({t[0] for t in room_types})
    if covered >= RANGE_SHARE * where.hotel_nights():
        return "availability_recompute_range"
    return "availability_recompute_bulk"


def recompute_params(
    dirty: AvailabilityDirty,
    room_types: set[tuple[int, int]],
    horizon: Horizon,
    where: Span | None = None,
) -> dict[str, Any]:
    """The recompute queries' parameters: the dirty sets as parallel arrays, and their span."""
    lo, hi = horizon.bounds()
    nights, types, keys = sorted(dirty.nights), sorted(room_types), sorted(dirty.keys)
    where = where or span(dirty, room_types, horizon)
    return {
        "night_hotel": [n[0] for n in nights],
        "night_room": [n[1] for n in nights],
        "night_date": [n[2] for n in nights],
        "type_hotel": [t[0] for t in types],
        "type_id": [t[1] for t in types],
        "key_hotel": [k[0] for k in keys],
        "key_type": [k[1] for k in keys],
        "key_date": [k[2] for k in keys],
        "lo": lo,
        "hi": hi,
        "span_hotels": where.hotels,
        "span_first": where.first,
        "span_last": where.last,
    }


class HotelRoomType(msgspec.Struct, frozen=True):
    hotel_id: int
    room_type_id: int


async def all_room_types(conn: psycopg.AsyncConnection[Any]) -> list[HotelRoomType]:
    """Every room type of every hotel, by hotel and id."""
    return await fetch_all(conn, HotelRoomType, query("availability_all_room_types"))


class _Recomputed(msgspec.Struct, frozen=True):
    """A key's availability, or its removal when its room type is gone (not type_exists)."""

    hotel_id: int
    room_type_id: int
    date: date
    type_exists: bool
    sellable: int
    taken: int
    available: int
    overbooked: int


async def recompute(
    conn: psycopg.AsyncConnection[Any], dirty: AvailabilityDirty, horizon: Horizon
) -> tuple[list[Availability], list[AvailabilityKey]]:
    """Availability for every dirty key, from the PMS tables as this transaction sees them."""
    room_types = dirty.room_types
    if dirty.everything:
        everything = await all_room_types(conn)
        room_types = room_types | {(t.hotel_id, t.room_type_id) for t in everything}
    where = span(dirty, room_types, horizon)
    params = recompute_params(dirty, room_types, horizon, where)
    statement = query(plan(dirty, room_types, horizon.nights(), where))
    now = time.time()
    entries: list[Availability] = []
    deletes: list[AvailabilityKey] = []
    for row in await fetch_all(conn, _Recomputed, statement, params):
        if row.type_exists:
            entries.append(
                Availability(
                    row.hotel_id,
                    row.room_type_id,
                    row.date,
                    row.sellable,
                    row.taken,
                    row.available,
                    row.overbooked,
                    now,
                )
            )
        else:
            deletes.append(AvailabilityKey(row.hotel_id, row.room_type_id, row.date))
    return entries, deletes


async def apply(
    conn: psycopg.AsyncConnection[Any],
    cache: Cache,
    dirty: AvailabilityDirty,
    horizon: Horizon,
    moves: Moves | None = None,
) -> int:
    """Recomputes and writes the dirty keys; `moves` is told the hotels written."""
    if not dirty:
        return 0
    entries, deletes = await recompute(conn, dirty, horizon)
    await cache.put_availability(entries, deletes)
    if moves is not None:
        moves.hotels({e.hotel_id for e in entries} | {k.hotel_id for k in deletes})
    availability_keys_written.inc(len(entries) + len(deletes))
    return len(entries) + len(deletes)
