"""Cached hotel, room-type, amenity, image and price reads with a read-through on a miss."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from api.context import ApiContext, pool_of
from bridge import cacheops
from bridge.errors import NotFound
from metrics.definitions import cache_requests

T = TypeVar("T")
READ_THROUGH = "api:read-through"


async def _reload(ctx: ApiContext, kind: str, hotel_id: int) -> None:
    """A miss fills the cache for this hotel from the PMS (recorded as a cache trigger)."""
    update = cacheops.update_hotels if kind == "hotels" else cacheops.update_room_types
    async with pool_of(ctx).connection(timeout=5) as conn:
        await update(conn, ctx.cache, hotel_id=hotel_id, triggered_by=READ_THROUGH)


async def read_through(
    ctx: ApiContext,
    kind: str,
    hotel_id: int,
    read: Callable[[], Awaitable[T | None]],
    reload_kind: str = "hotels",
) -> T:
    found = await read()
    cache_requests.labels(kind=kind, result="hit" if found is not None else "miss").inc()
    if found is None:
        await _reload(ctx, reload_kind, hotel_id)
        found = await read()
    if found is None:
        raise NotFound("not_found", f"hotel {hotel_id} not found")
    return found


async def hotel(ctx: ApiContext, hotel_id: int) -> cacheops.HotelInfo:
    return await read_through(
        ctx, "hotel", hotel_id, lambda: cacheops.get_hotel(ctx.cache, hotel_id)
    )


async def room_types(ctx: ApiContext, hotel_id: int) -> list[cacheops.RoomTypeInfo]:
    return await read_through(
        ctx,
        "room_types",
        hotel_id,
        lambda: cacheops.get_room_types(ctx.cache, hotel_id),
        reload_kind="room_types",
    )


async def amenities(ctx: ApiContext, hotel_id: int) -> list[cacheops.Amenity]:
    return await read_through(
        ctx, "amenities", hotel_id, lambda: cacheops.get_amenities(ctx.cache, hotel_id)
    )


async def images(ctx: ApiContext, hotel_id: int) -> list[cacheops.HotelImage]:
    return await read_through(
        ctx, "images", hotel_id, lambda: cacheops.get_hotel_images(ctx.cache, hotel_id)
    )


def as_float(value: Any) -> float | None:
    return None if value is None else float(value)
