"""Cache operations the API and the CLI call: updates, refreshes, status and typed cache reads.

Hotel and room-type caches are manual by default: they change only through update_hotels /
update_room_types (or live under the `auto` policy). Availability is live from capture, with
a 15-minute TTL per entry, read-through on a miss, and stale answers when the PMS is down.
Every update request leaves a booking_engine_cache_triggers row, pending -> completed|failed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import msgspec
import psycopg
from psycopg_pool import AsyncConnectionPool

from bridge.cache.base import Availability, AvailabilityKey, Cache
from bridge.db import SCHEMA_ERRORS, fetch_all, fetch_value, fetch_values
from bridge.errors import Invalid, NotFound
from bridge.horizon import Horizon
from bridge.outage import DATABASE_DOWN
from bridge.projectors.availability import AvailabilityDirty
from bridge.projectors.prices import PricesDirty
from bridge.sinks import availability as availability_sink
from bridge.sinks import catalog
from bridge.sinks import prices as prices_sink
from bridge.sinks.catalog import (
    CATALOG_TTL_MINUTES,
    Amenity,
    HotelImage,
    HotelInfo,
    RoomTypeInfo,
)
from bridge.sinks.prices import HotelPrices, NightPrice, PlanPrices
from bridge.sql import query
from metrics import definitions as m

log = logging.getLogger("pms_bridge.cacheops")

AVAILABILITY_TTL_MINUTES = 15
CacheType = Literal["hotels", "room_types", "availability"]
Database = AsyncConnectionPool[Any] | psycopg.AsyncConnection[Any]

__all__ = [
    "Amenity",
    "AvailabilityRead",
    "CacheStatusResponse",
    "CacheTypeStatus",
    "CacheUpdateResult",
    "HotelImage",
    "HotelInfo",
    "HotelPrices",
    "NightPrice",
    "PlanPrices",
    "RoomTypeInfo",
    "cache_status",
    "get_amenities",
    "get_hotel",
    "get_hotel_images",
    "get_hotels",
    "get_room_types",
    "hotel_pricing",
    "nightly_prices",
    "read_availability",
    "refresh_availability",
    "update_hotels",
    "update_room_types",
]
# The PMS could not answer a read-through (down, or its schema no longer fits): the cached
# entries are answered, marked stale.
READ_THROUGH_ERRORS: tuple[type[Exception], ...] = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    OSError,
    *SCHEMA_ERRORS,
)


class CacheUpdateResult(msgspec.Struct):
    """Outcome of one update request, as recorded in booking_engine_cache_triggers."""

    trigger_id: int
    cache_type: CacheType
    hotel_id: int | None
    status: Literal["completed", "failed"]
    entries_written: int
    entries_removed: int
    triggered_by: str
    completed_at: datetime | None
    error: str | None = None


class CacheTypeStatus(msgspec.Struct):
    """One cache type in the integration document's "Cache Status Response".

    `pending_changes` counts captured changes not yet applied to this cache (manual policy);
    `stale` is true while any are pending or the cache was never filled.
    """

    last_updated: datetime | None
    is_active: bool
    cache_ttl_minutes: int
    pending_changes: int = 0
    stale: bool = False


class CacheStatusResponse(msgspec.Struct):
    """The document's "Cache Status Response": hotels, room_types, availability."""

    hotels: CacheTypeStatus
    room_types: CacheTypeStatus
    availability: CacheTypeStatus


class AvailabilityRead(msgspec.Struct):
    """Entries for the nights asked (ordered by night, then room type) and whether they may be old.

    `stale` is true when a missing or expired entry could not be recomputed because the PMS
    database did not answer, or when the caller says capture is not live.
    """

    entries: list[Availability]
    stale: bool
    refreshed: int = 0


# --- hotel and room-type caches ----------------------------------------------------------


async def _exists(conn: psycopg.AsyncConnection[Any], hotel_id: int) -> bool:
    return bool(await fetch_value(conn, query("cacheops_hotel_exists"), {"hotel_id": hotel_id}))


async def _start(
    conn: psycopg.AsyncConnection[Any], cache_type: str, hotel_id: int | None, triggered_by: str
) -> int:
    async with conn.transaction():
        trigger_id = await fetch_value(
            conn,
            query("cacheops_trigger_start"),
            {
                "trigger_type": "hotel" if hotel_id is not None else "full",
                "cache_type": cache_type,
                "hotel_id": hotel_id,
                "triggered_by": triggered_by,
            },
        )
    assert trigger_id is not None
    return int(trigger_id)


async def _finish(
    conn: psycopg.AsyncConnection[Any],
    trigger_id: int,
    status: str,
    error: str | None,
    written: int,
    removed: int,
) -> datetime | None:
    async with conn.transaction():
        completed: datetime | None = await fetch_value(
            conn,
            query("cacheops_trigger_finish"),
            {
                "id": trigger_id,
                "status": status,
                "error": error,
                "written": written,
                "removed": removed,
            },
        )
    return completed.replace(tzinfo=UTC) if completed else None


async def _update_catalog(
    conn: psycopg.AsyncConnection[Any],
    cache: Cache,
    cache_type: Literal["hotels", "room_types"],
    hotel_id: int | None,
    triggered_by: str,
) -> CacheUpdateResult:
    if hotel_id is not None and not await _exists(conn, hotel_id):
        raise NotFound("hotel_not_found", f"hotel {hotel_id} does not exist")
    trigger_id = await _start(conn, cache_type, hotel_id, triggered_by)
    scope = None if hotel_id is None else [hotel_id]
    refresh = catalog.refresh_hotels if cache_type == "hotels" else catalog.refresh_room_types
    try:
        async with conn.transaction():
            count = await refresh(conn, cache, scope)
            await catalog.mark_updated(conn, cache_type, scope, CATALOG_TTL_MINUTES)
            if hotel_id is None:
                await conn.execute(query("cacheops_drop_status"))
    except DATABASE_DOWN:
        raise
    except Exception as exc:  # the cache backend failed: record it, the request gets an answer
        log.warning("%s cache update %s failed: %s", cache_type, trigger_id, exc)
        m.cache_updates.labels(cache_type=cache_type, status="failed").inc()
        done = await _finish(conn, trigger_id, "failed", str(exc) or type(exc).__name__, 0, 0)
        return CacheUpdateResult(
            trigger_id,
            cache_type,
            hotel_id,
            "failed",
            0,
            0,
            triggered_by,
            done,
            str(exc) or type(exc).__name__,
        )
    done = await _finish(conn, trigger_id, "completed", None, count.written, count.removed)
    m.cache_updates.labels(cache_type=cache_type, status="completed").inc()
    return CacheUpdateResult(
        trigger_id,
        cache_type,
        hotel_id,
        "completed",
        count.written,
        count.removed,
        triggered_by,
        done,
    )


async def update_hotels(
    conn: psycopg.AsyncConnection[Any], cache: Cache, *, hotel_id: int | None, triggered_by: str
) -> CacheUpdateResult:
    """Reload hotel documents with their amenities and images, for one hotel or all.

    A full update (hotel_id None) also removes cached hotels that no longer exist, and resets
    the pending-change counters. Raises NotFound for an unknown hotel_id; a cache
    failure is recorded and returned as status "failed"; a database failure propagates.
    """
    return await _update_catalog(conn, cache, "hotels", hotel_id, triggered_by)


async def update_room_types(
    conn: psycopg.AsyncConnection[Any], cache: Cache, *, hotel_id: int | None, triggered_by: str
) -> CacheUpdateResult:
    """Reload the room-type lists of one hotel or all; otherwise as update_hotels."""
    return await _update_catalog(conn, cache, "room_types", hotel_id, triggered_by)


def _decode(raw: bytes | None, kind: type[Any]) -> Any:
    return None if raw is None else msgspec.msgpack.decode(raw, type=kind)


async def get_hotel(cache: Cache, hotel_id: int) -> HotelInfo | None:
    """The cached hotel, or None when it is not in the cache."""
    hotel: HotelInfo | None = _decode(
        await cache.get_document(catalog.HOTELS, str(hotel_id)), HotelInfo
    )
    return hotel


async def get_hotels(cache: Cache) -> list[HotelInfo]:
    """Every cached hotel, ordered by sort_order then id (one cache read)."""
    return await catalog.read_hotel_list(cache)


async def get_room_types(cache: Cache, hotel_id: int) -> list[RoomTypeInfo] | None:
    """The hotel's cached room types, or None when the hotel has no room-type list cached."""
    found: catalog.RoomTypeList | None = _decode(
        await cache.get_document(catalog.ROOM_TYPES, str(hotel_id)), catalog.RoomTypeList
    )
    return None if found is None else found.room_types


async def get_amenities(cache: Cache, hotel_id: int) -> list[Amenity] | None:
    """The hotel's cached amenities (cached with the hotel), or None when not cached."""
    found: catalog.AmenityList | None = _decode(
        await cache.get_document(catalog.AMENITIES, str(hotel_id)), catalog.AmenityList
    )
    return None if found is None else found.amenities


async def get_hotel_images(cache: Cache, hotel_id: int) -> list[HotelImage] | None:
    """The hotel's cached images, primary first (cached with the hotel), or None when not cached."""
    found: catalog.ImageList | None = _decode(
        await cache.get_document(catalog.IMAGES, str(hotel_id)), catalog.ImageList
    )
    return None if found is None else found.images


# --- cache status ------------------------------------------------------------------------


class _CacheTypeRow(msgspec.Struct, frozen=True):
    cache_type: str
    last_updated: datetime | None
    is_active: bool | None
    pending_changes: int


async def cache_status(
    conn: psycopg.AsyncConnection[Any], hotel_id: int | None
) -> CacheStatusResponse:
    """The "Cache Status Response" for all hotels (hotel_id None) or one hotel.

    For all hotels, last_updated is the newest update and pending_changes the sum. The
    availability cache is updated live, so its last_updated is also moved by applied changes.
    """
    found = await fetch_all(conn, _CacheTypeRow, query("cacheops_status"), {"hotel_id": hotel_id})
    rows = {row.cache_type: row for row in found}
    live: datetime | None = await fetch_value(conn, query("cacheops_last_applied"))

    def one(cache_type: str, ttl: int) -> CacheTypeStatus:
        row = rows.get(cache_type)
        last = row.last_updated if row else None
        if cache_type == "availability" and live is not None:
            last = live if last is None else max(last, live)
        pending = int(row.pending_changes) if row else 0
        is_active = bool(row.is_active) if row else last is not None
        if last is not None:
            last = last.astimezone(UTC)
        return CacheTypeStatus(last, is_active, ttl, pending, pending > 0 or last is None)

    return CacheStatusResponse(
        hotels=one("hotels", CATALOG_TTL_MINUTES),
        room_types=one("room_types", CATALOG_TTL_MINUTES),
        availability=one("availability", AVAILABILITY_TTL_MINUTES),
    )


# --- availability ------------------------------------------------------------------------


def _nights(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days)]


async def _hotel_room_types(conn: psycopg.AsyncConnection[Any], hotel_id: int) -> list[int]:
    return await fetch_values(conn, query("cacheops_hotel_room_types"), {"hotel_id": hotel_id})


async def _recompute_keys(
    conn: psycopg.AsyncConnection[Any],
    cache: Cache,
    horizon: Horizon,
    keys: set[tuple[int, int, date]],
) -> tuple[list[Availability], list[AvailabilityKey]]:
    entries, deletes = await availability_sink.recompute(
        conn, AvailabilityDirty(keys=keys), horizon
    )
    await cache.put_availability(entries, deletes)
    m.availability_keys_written.inc(len(entries) + len(deletes))
    return entries, deletes


async def refresh_availability(
    conn: psycopg.AsyncConnection[Any],
    cache: Cache,
    horizon: Horizon,
    *,
    hotel_id: int,
    room_type_id: int | None,
    start_date: date,
    end_date: date,
    triggered_by: str,
) -> CacheUpdateResult:
    """Recompute availability for nights start_date <= night < end_date (clipped to the horizon).

    Raises Invalid when end_date is not after start_date, NotFound for an unknown hotel or a
    room type that is not the hotel's.
    """
    if end_date <= start_date:
        raise Invalid("invalid_range", "end_date must be after start_date")
    if not await _exists(conn, hotel_id):
        raise NotFound("hotel_not_found", f"hotel {hotel_id} does not exist")
    types = await _hotel_room_types(conn, hotel_id)
    if room_type_id is not None:
        if room_type_id not in types:
            detail = f"room type {room_type_id} is not a room type of hotel {hotel_id}"
            raise NotFound("room_type_not_found", detail)
        types = [room_type_id]
    lo, hi = horizon.bounds()
    nights = _nights(max(start_date, lo), min(end_date, hi + timedelta(days=1)))
    keys = {(hotel_id, t, n) for t in types for n in nights}
    trigger_id = await _start(conn, "availability", hotel_id, triggered_by)
    try:
        async with conn.transaction():
            entries, deletes = await _recompute_keys(conn, cache, horizon, keys)
            await catalog.mark_updated(conn, "availability", [hotel_id], AVAILABILITY_TTL_MINUTES)
    except DATABASE_DOWN:
        raise
    except Exception as exc:
        error = str(exc) or type(exc).__name__
        m.cache_updates.labels(cache_type="availability", status="failed").inc()
        done = await _finish(conn, trigger_id, "failed", error, 0, 0)
        return CacheUpdateResult(
            trigger_id, "availability", hotel_id, "failed", 0, 0, triggered_by, done, error
        )
    done = await _finish(conn, trigger_id, "completed", None, len(entries), len(deletes))
    m.cache_updates.labels(cache_type="availability", status="completed").inc()
    return CacheUpdateResult(
        trigger_id,
        "availability",
        hotel_id,
        "completed",
        len(entries),
        len(deletes),
        triggered_by,
        done,
    )


@asynccontextmanager
async def _connection(db: Database, wait: float) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    if isinstance(db, psycopg.AsyncConnection):
        yield db
        return
    async with db.connection(timeout=wait) as conn:
        yield conn


async def read_availability(
    db: Database | None,
    cache: Cache,
    horizon: Horizon,
    hotel_id: int,
    start: date,
    end: date,
    room_type_id: int | None = None,
    *,
    ttl_minutes: float = AVAILABILITY_TTL_MINUTES,
    source_live: bool = True,
    db_timeout: float = 2.0,
) -> AvailabilityRead:
    """Availability for nights start <= night < end, read through to the PMS on a miss.

    One cache round trip when every entry is there and younger than the TTL. Otherwise the
    missing and expired keys inside the horizon are recomputed from the PMS (db: a pool or a
    connection), written to the cache and returned. If the PMS does not answer (or db is
    None), the cached entries are returned with stale=True; so they are when `source_live`
    is False (the caller knows capture is down).
    """
    entries = await cache.get_availability(hotel_id, start, end, room_type_id)
    cutoff = time.time() - ttl_minutes * 60
    lo, hi = horizon.bounds()
    wanted = _nights(max(start, lo), min(end, hi + timedelta(days=1)))
    by_night: dict[date, set[int]] = {}
    expired: set[tuple[int, int, date]] = set()
    for e in entries:
        by_night.setdefault(e.date, set()).add(e.room_type_id)
        if e.updated_at < cutoff:
            expired.add((e.hotel_id, e.room_type_id, e.date))
    known_types = {room_type_id} if room_type_id is not None else set().union(*by_night.values())
    missing_nights = [
        n for n in wanted if not known_types or not known_types <= by_night.get(n, set())
    ]
    if not missing_nights and not expired:
        m.cache_requests.labels(kind="availability", result="hit").inc()
        return AvailabilityRead(entries, stale=not source_live)
    m.cache_requests.labels(kind="availability", result="miss").inc()
    if db is None:
        return AvailabilityRead(entries, stale=True)
    try:
        async with _connection(db, db_timeout) as conn:
            types = (
                [room_type_id]
                if room_type_id is not None
                else await _hotel_room_types(conn, hotel_id)
            )
            keys = expired | {(hotel_id, t, n) for t in types for n in missing_nights}
            # An unknown hotel has no keys: nothing to recompute, nothing to write.
            fresh, deletes = await _recompute_keys(conn, cache, horizon, keys) if keys else ([], [])
    except READ_THROUGH_ERRORS as exc:
        log.info("availability read-through for hotel %s failed: %s", hotel_id, exc)
        m.cache_requests.labels(kind="availability", result="stale").inc()
        return AvailabilityRead(entries, stale=True)
    merged = {(e.room_type_id, e.date): e for e in entries}
    for gone in deletes:
        merged.pop((gone.room_type_id, gone.date), None)
    for e in fresh:
        if start <= e.date < end and (room_type_id is None or e.room_type_id == room_type_id):
            merged[(e.room_type_id, e.date)] = e
    ordered = sorted(merged.values(), key=lambda e: (e.date, e.room_type_id))
    return AvailabilityRead(ordered, stale=not source_live, refreshed=len(fresh))


# --- prices ------------------------------------------------------------------------------


async def hotel_pricing(
    cache: Cache,
    hotel_id: int,
    start: date,
    end: date,
    horizon: Horizon,
    db: Database | None = None,
) -> list[PlanPrices] | None:
    """Every plan of the hotel with its prices for nights start <= night < end.

    Read through to the PMS (db) when the hotel's prices are not cached, over the horizon the
    bridge keeps them for; None when the hotel has no cached prices and cannot be computed
    (unknown hotel or no db).
    """
    found = await prices_sink.read(cache, hotel_id)
    if found is None and db is not None:
        async with _connection(db, 2.0) as conn:
            dirty = PricesDirty(hotels={hotel_id})
            await prices_sink.apply(conn, cache, dirty, horizon)
        found = await prices_sink.read(cache, hotel_id)
    if found is None:
        return None
    return [
        PlanPrices(
            p.plan_key,
            p.plan_id,
            p.plans_global_id,
            p.name,
            p.plan_type,
            [n for n in p.nights if start <= n.date < end],
        )
        for p in found.plans
    ]


async def nightly_prices(
    cache: Cache,
    hotel_id: int,
    plan_id: int | None,
    plan_key: str | None,
    start: date,
    end: date,
    horizon: Horizon,
    db: Database | None = None,
) -> list[NightPrice] | None:
    """One plan's (date, price) for nights start <= night < end, the plan named by its hotel
    plan id, its key or both; None for a plan the hotel does not sell."""
    plans = await hotel_pricing(cache, hotel_id, start, end, horizon, db)
    for plan in plans or []:
        if plan.is_plan(plan_id, plan_key):
            return plan.nights
    return None
