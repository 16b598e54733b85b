"""Catalog sink: loads hotels, room types, amenities and images from PostgreSQL into the cache.

Documents (see docs/redis-layout.md): `hotels` one per hotel, `hotel_list` key `all` with every
cached hotel (so listing hotels is one read), `room_types`, `amenities` and `hotel_images` one
list per hotel. A refresh of some hotels rewrites exactly those hotels' documents and removes
the documents of hotels (or room types) that no longer exist; nothing else is touched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from functools import partial
from typing import Any, TypeVar

import msgspec
import psycopg

from bridge.cache.base import Cache
from bridge.changes import Change
from bridge.db import fetch_all, fetch_values
from bridge.live_status import Moves
from bridge.projectors import catalog
from bridge.projectors.catalog import CatalogDirty
from bridge.sql import query

HOTELS = "hotels"
HOTEL_LIST = "hotel_list"
ROOM_TYPES = "room_types"
AMENITIES = "amenities"
IMAGES = "hotel_images"
LIST_KEY = "all"
CATALOG_TTL_MINUTES = 1440

T = TypeVar("T")


class HotelInfo(msgspec.Struct, frozen=True):
    """A hotel as cached for the booking engine."""

    id: int
    name: str
    formal_name: str | None
    facility_type: str | None
    open_date: date | None
    total_rooms: int | None
    postal_code: str | None
    address: str | None
    email: str | None
    phone_number: str | None
    latitude: float | None
    longitude: float | None
    sort_order: int | None
    cached_at: datetime


class RoomTypeInfo(msgspec.Struct, frozen=True):
    """A room type with its sellable room count and the largest capacity among those rooms."""

    hotel_id: int
    id: int
    name: str
    description: str | None
    sellable_rooms: int
    max_capacity: int


class RoomTypeList(msgspec.Struct, frozen=True):
    hotel_id: int
    room_types: list[RoomTypeInfo]
    cached_at: datetime


class Amenity(msgspec.Struct, frozen=True):
    hotel_id: int
    id: int
    name: str
    category: str | None
    description: str | None
    icon: str | None
    sort_order: int


class AmenityList(msgspec.Struct, frozen=True):
    hotel_id: int
    amenities: list[Amenity]
    cached_at: datetime


class HotelImage(msgspec.Struct, frozen=True):
    hotel_id: int
    id: int
    url: str
    caption: str | None
    sort_order: int
    is_primary: bool


class ImageList(msgspec.Struct, frozen=True):
    hotel_id: int
    images: list[HotelImage]
    cached_at: datetime


class HotelList(msgspec.Struct, frozen=True):
    hotels: list[HotelInfo]


class RefreshCount(msgspec.Struct):
    """Documents written and removed by one refresh."""

    written: int = 0
    removed: int = 0

    def add(self, other: RefreshCount) -> None:
        self.written += other.written
        self.removed += other.removed


_encode = msgspec.msgpack.Encoder().encode


def _params(hotel_ids: Sequence[int] | None) -> dict[str, Any]:
    return {"hotel_ids": None if hotel_ids is None else list(hotel_ids)}


async def _rows(
    conn: psycopg.AsyncConnection[Any],
    row: Callable[..., T],
    name: str,
    hotel_ids: Sequence[int] | None,
) -> list[T]:
    return await fetch_all(conn, row, query(name), _params(hotel_ids))


async def _replace(
    cache: Cache, kind: str, fresh: dict[str, bytes], scope: Sequence[int] | None
) -> RefreshCount:
    """Write `fresh`; remove the kind's other keys in scope (every key when scope is None)."""
    if scope is None:
        stale = [k for k in await cache.document_keys(kind) if k not in fresh]
    else:
        stale = [str(h) for h in scope if str(h) not in fresh]
    await cache.put_documents(kind, fresh)
    await cache.delete_documents(kind, stale)
    return RefreshCount(len(fresh), len(stale))


async def refresh_hotels(
    conn: psycopg.AsyncConnection[Any], cache: Cache, hotel_ids: Sequence[int] | None
) -> RefreshCount:
    """Reload hotels with their amenities and images (all hotels when hotel_ids is None)."""
    now = datetime.now(UTC)
    hotels = await _rows(conn, partial(HotelInfo, cached_at=now), "catalog_hotels", hotel_ids)
    amenities: dict[int, list[Amenity]] = {h.id: [] for h in hotels}
    for amenity in await _rows(conn, Amenity, "catalog_amenities", hotel_ids):
        amenities.setdefault(amenity.hotel_id, []).append(amenity)
    images: dict[int, list[HotelImage]] = {h.id: [] for h in hotels}
    for image in await _rows(conn, HotelImage, "catalog_hotel_images", hotel_ids):
        images.setdefault(image.hotel_id, []).append(image)
    present = {h.id for h in hotels}
    count = await _replace(cache, HOTELS, {str(h.id): _encode(h) for h in hotels}, hotel_ids)
    amenity_docs = {
        str(h): _encode(AmenityList(h, a, now)) for h, a in amenities.items() if h in present
    }
    image_docs = {str(h): _encode(ImageList(h, i, now)) for h, i in images.items() if h in present}
    count.add(await _replace(cache, AMENITIES, amenity_docs, hotel_ids))
    count.add(await _replace(cache, IMAGES, image_docs, hotel_ids))
    listed = hotels
    if hotel_ids is not None:
        scope = set(hotel_ids)
        kept = [h for h in await read_hotel_list(cache) if h.id not in scope]
        listed = sorted([*kept, *hotels], key=lambda h: (h.sort_order or 0, h.id))
    await cache.put_document(HOTEL_LIST, LIST_KEY, _encode(HotelList(listed)))
    return count


async def refresh_room_types(
    conn: psycopg.AsyncConnection[Any], cache: Cache, hotel_ids: Sequence[int] | None
) -> RefreshCount:
    """Reload the room types of these hotels (all when None); a hotel without any loses its list."""
    now = datetime.now(UTC)
    by_hotel: dict[int, list[RoomTypeInfo]] = {}
    for room_type in await _rows(conn, RoomTypeInfo, "catalog_room_types", hotel_ids):
        by_hotel.setdefault(room_type.hotel_id, []).append(room_type)
    fresh = {str(h): _encode(RoomTypeList(h, types, now)) for h, types in by_hotel.items()}
    return await _replace(cache, ROOM_TYPES, fresh, hotel_ids)


async def read_hotel_list(cache: Cache) -> list[HotelInfo]:
    raw = await cache.get_document(HOTEL_LIST, LIST_KEY)
    return [] if raw is None else msgspec.msgpack.decode(raw, type=HotelList).hotels


async def mark_updated(
    conn: psycopg.AsyncConnection[Any],
    cache_type: str,
    hotel_ids: Sequence[int] | None,
    ttl_minutes: int,
) -> None:
    """Record in booking_engine_cache_status that these hotels' cache is fresh (None: all)."""
    if hotel_ids is None:
        ids = await fetch_values(conn, query("catalog_hotel_ids"))
    else:
        ids = list(hotel_ids)
    await conn.execute(
        query("cacheops_mark_updated"),
        {
            "cache_type": cache_type,
            "hotel_ids": ids,
            "ttl_minutes": ttl_minutes,
            "all_hotels": hotel_ids is None,
        },
    )


async def count_pending(conn: psycopg.AsyncConnection[Any], dirty: CatalogDirty) -> None:
    """Manual policy: add the batch's changes to the pending counters, in one statement."""
    types: list[str] = []
    hotels: list[int | None] = []
    counts: list[int] = []
    for cache_type, per_hotel, everything in (
        (HOTELS, dirty.hotels, dirty.everything_hotels),
        (ROOM_TYPES, dirty.room_types, dirty.everything_room_types),
    ):
        for hotel_id, n in per_hotel.items():
            if n:
                types.append(cache_type)
                hotels.append(hotel_id)
                counts.append(n)
        if everything:
            types.append(cache_type)
            hotels.append(None)
            counts.append(1)
    if types:
        await conn.execute(
            query("catalog_count_pending"),
            {
                "cache_types": types,
                "hotel_ids": hotels,
                "counts": counts,
                "ttl_minutes": CATALOG_TTL_MINUTES,
            },
        )


class CatalogStage:
    """Hotel and room-type changes: counted as pending (manual policy) or applied live (auto)."""

    name = "catalog"

    def __init__(self, cache: Cache, policy: str = "manual", moves: Moves | None = None) -> None:
        self.cache = cache
        self.policy = policy
        self.moves = moves

    def project(self, changes: Sequence[Change]) -> CatalogDirty:
        return catalog.project(changes)

    async def apply(self, conn: psycopg.AsyncConnection[Any], dirty: CatalogDirty) -> None:
        if not dirty:
            return
        if self.policy != "auto":
            await count_pending(conn, dirty)
            return
        if dirty.hotels or dirty.everything_hotels:
            scope = None if dirty.everything_hotels else sorted(dirty.hotels)
            await refresh_hotels(conn, self.cache, scope)
            self._moved(scope)
            await mark_updated(conn, HOTELS, scope, CATALOG_TTL_MINUTES)
        if dirty.room_types or dirty.everything_room_types:
            scope = None if dirty.everything_room_types else sorted(dirty.room_types)
            await refresh_room_types(conn, self.cache, scope)
            self._moved(scope)
            await mark_updated(conn, ROOM_TYPES, scope, CATALOG_TTL_MINUTES)

    def _moved(self, scope: list[int] | None) -> None:
        """A hotel's document feeds its memoized answers; a truncate's refresh, every hotel's."""
        if self.moves is None:
            return
        if scope is None:
            self.moves.every()
        else:
            self.moves.hotels(scope)
