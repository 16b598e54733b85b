"""Cache administration (admin scope): update hotel / room-type caches, refresh, status."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from api.auth.guard import Principal, same_hotel
from api.context import ApiContext, pool_of
from api.errors import ApiError
from api.openapi import Documented
from api.paths import PREFIX
from api.routes.common import BODY, OPT, QueryId, errors, note, parse_query
from api.schemas import CacheUpdateRequest, RefreshAvailabilityRequest, StatusQuery
from bridge import cacheops

Update = Callable[[psycopg.AsyncConnection[Any]], Awaitable[cacheops.CacheUpdateResult]]


def _by(principal: Principal) -> str:
    return f"api:{principal.key_id}"


def _scope(principal: Principal, hotel_id: int | None) -> None:
    # The status of every hotel's caches is readable; no other hotel's id is named.
    if hotel_id is not None:
        same_hotel(principal, hotel_id)


def _own(principal: Principal, hotel_id: int | None) -> int:
    """The hotel a reload is for: the key's own. Reloading every hotel's caches is the
    operator's (`pms-bridge cache update`), not a hotel's key's."""
    if hotel_id is not None:
        same_hotel(principal, hotel_id)
    return principal.hotel_id


async def _run(ctx: ApiContext, update: Update, moved: int) -> cacheops.CacheUpdateResult:
    """The update on a pooled connection, then the `moved` hotel's memoized answers retired in
    every API process: they were read from the cache just rewritten, and the bridge's batches
    did not write it."""
    try:
        async with pool_of(ctx).connection() as conn:
            return await update(conn)
    finally:
        # After the update, so no answer read meanwhile outlives it.
        await ctx.retire([moved])


@post(
    f"{PREFIX}/cache/update-hotels",
    tags=["cache"],
    operation_id="updateHotelCache",
    operation_class=Documented,
    status_code=200,
    opt=OPT("admin"),
    responses=errors(*BODY, 404),
    summary="Reload the key's hotel in the hotel cache",
)
async def update_hotels(
    request: Request[Any, Any, Any],
    ctx: NamedDependency[ApiContext],
    principal: NamedDependency[Principal],
    data: JSONBody[CacheUpdateRequest],
) -> cacheops.CacheUpdateResult:
    hotel_id = _own(principal, data.hotel_id)
    note(request, "cache.update_hotels", "cache", str(hotel_id))
    return await _run(
        ctx,
        lambda conn: cacheops.update_hotels(
            conn, ctx.cache, hotel_id=hotel_id, triggered_by=_by(principal)
        ),
        hotel_id,
    )


@post(
    f"{PREFIX}/cache/update-room-types",
    tags=["cache"],
    operation_id="updateRoomTypeCache",
    operation_class=Documented,
    status_code=200,
    opt=OPT("admin"),
    responses=errors(*BODY, 404),
    summary="Reload the key's hotel in the room-type cache",
)
async def update_room_types(
    request: Request[Any, Any, Any],
    ctx: NamedDependency[ApiContext],
    principal: NamedDependency[Principal],
    data: JSONBody[CacheUpdateRequest],
) -> cacheops.CacheUpdateResult:
    hotel_id = _own(principal, data.hotel_id)
    note(request, "cache.update_room_types", "cache", str(hotel_id))
    return await _run(
        ctx,
        lambda conn: cacheops.update_room_types(
            conn, ctx.cache, hotel_id=hotel_id, triggered_by=_by(principal)
        ),
        hotel_id,
    )


@post(
    f"{PREFIX}/cache/refresh-availability",
    tags=["cache"],
    operation_id="refreshAvailability",
    operation_class=Documented,
    status_code=200,
    opt=OPT("admin"),
    responses=errors(*BODY, 404),
    summary="Recompute availability for a hotel and date range",
)
async def refresh_availability(
    request: Request[Any, Any, Any],
    ctx: NamedDependency[ApiContext],
    principal: NamedDependency[Principal],
    data: JSONBody[RefreshAvailabilityRequest],
) -> cacheops.CacheUpdateResult:
    note(
        request,
        "cache.refresh_availability",
        "cache",
        str(data.hotel_id),
        {
            "room_type_id": data.room_type_id,
            "start_date": data.start_date,
            "end_date": data.end_date,
        },
    )
    same_hotel(principal, data.hotel_id)
    if (data.end_date - data.start_date).days > 400:
        raise ApiError(400, "invalid_range", "at most 400 nights per refresh")
    return await _run(
        ctx,
        lambda conn: cacheops.refresh_availability(
            conn,
            ctx.cache,
            ctx.horizon,
            hotel_id=data.hotel_id,
            room_type_id=data.room_type_id,
            start_date=data.start_date,
            end_date=data.end_date,
            triggered_by=_by(principal),
        ),
        data.hotel_id,
    )


@get(
    f"{PREFIX}/cache/status",
    tags=["cache"],
    operation_id="getCacheStatus",
    operation_class=Documented,
    opt=OPT("admin", query=True),
    responses=errors(404),
    summary="Cache status in the integration document's shape",
)
async def cache_status(
    request: Request[Any, Any, Any],
    ctx: NamedDependency[ApiContext],
    principal: NamedDependency[Principal],
    hotel_id: QueryId = None,
) -> cacheops.CacheStatusResponse:
    q = parse_query(request, StatusQuery)
    note(request, "cache.status", "cache", str(q.hotel_id or "all"))
    _scope(principal, q.hotel_id)
    async with pool_of(ctx).connection() as conn:
        return await cacheops.cache_status(conn, q.hotel_id)


ROUTES = [update_hotels, update_room_types, refresh_availability, cache_status]
