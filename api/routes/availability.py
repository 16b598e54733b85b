"""GET availability per room type and night from the cache (read-through), with prices."""

from __future__ import annotations

from collections.abc import Hashable
from datetime import date, timedelta
from typing import Any

import msgspec
from litestar import Request, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromQuery
from litestar.response.base import ASGIResponse

from api import catalog
from api.auth.guard import principal_of, same_hotel
from api.call import call_of
from api.context import ApiContext, context_of
from api.encoding import Encoded
from api.errors import ApiError
from api.openapi import Documented
from api.paths import PREFIX
from api.routes.common import (
    OPT,
    PathId,
    QueryId,
    QueryPlanKey,
    check_window,
    errors,
    note,
    parse_query,
)
from api.schemas import AvailabilityQuery, AvailabilityResponse, NightOut, RoomTypeNights
from bridge import cacheops

MAX_NIGHTS = 90
ROUTE = f"{PREFIX}/availability/{{hotel_id:int}}"
ACTION = "availability.read"
_encode = msgspec.json.Encoder().encode


@get(
    ROUTE,
    tags=["availability"],
    operation_id="getAvailability",
    operation_class=Documented,
    opt=OPT("read", query=True),
    responses={
        200: ResponseSpec(
            AvailabilityResponse, description="Availability", generate_examples=False
        ),
        **errors(404),
    },
    summary="Availability per room type and night",
)
async def availability(
    request: Request[Any, Any, Any],
    hotel_id: PathId,
    start_date: FromQuery[date],
    end_date: FromQuery[date],
    room_type_id: QueryId = None,
    plan_id: QueryId = None,
    plan_key: QueryPlanKey = None,
) -> ASGIResponse:
    """Nights start_date <= night < end_date (the check-out day excluded); with plan_id (a
    hotel plan) or plan_key (any plan the hotel sells, the PMS's key), each night carries that
    plan's price, the PMS's price of one room (per person on a per-person plan). `stale` says
    the figures may be old (capture or PMS down). A room type or plan the hotel does not have
    is 404."""
    # The context and caller are read here, not injected: each dependency Litestar resolves
    # costs about as much as a memoized answer, and this is the API's busiest route.
    ctx = context_of(request)
    call = call_of(request.scope)
    q = parse_query(request, AvailabilityQuery)
    note(request, ACTION, "hotel", str(hotel_id))
    same_hotel(principal_of(call), hotel_id)
    check_range(q)
    check_window(ctx.horizon, q.start_date, q.end_date, "availability")
    version = ctx.memo_version(hotel_id)
    live = ctx.source_live()
    if version is None:
        body, _ = await _answer(ctx, hotel_id, q, live)
        return Encoded(body, None).response(request.scope)

    async def compute() -> tuple[Encoded, bool]:
        body, keep = await _answer(ctx, hotel_id, q, live)
        return (Encoded.of(body) if keep else Encoded(body, None)), keep

    # The hotel's version is read before the cache: a change applied meanwhile retires it.
    memo = ctx.availability_memo
    answer = await memo.fetch(memo_key(hotel_id, q), version, compute)
    return answer.response(request.scope)


def check_range(q: AvailabilityQuery) -> None:
    if q.end_date <= q.start_date:
        raise ApiError(400, "invalid_range", "end_date must be after start_date")
    if q.end_date - q.start_date > timedelta(days=MAX_NIGHTS):
        raise ApiError(400, "invalid_range", f"at most {MAX_NIGHTS} nights per request")


def memo_key(hotel_id: int, q: AvailabilityQuery) -> Hashable:
    return (hotel_id, q.start_date, q.end_date, q.room_type_id, q.plan_id, q.plan_key)


async def _answer(
    ctx: ApiContext, hotel_id: int, q: AvailabilityQuery, live: bool
) -> tuple[bytes, bool]:
    """The encoded answer, and whether it may be memoized (not when it is stale)."""
    read = await cacheops.read_availability(
        ctx.pool,
        ctx.cache,
        ctx.horizon,
        hotel_id,
        q.start_date,
        q.end_date,
        q.room_type_id,
        source_live=live,
    )
    if q.room_type_id is not None and not read.entries:
        await _check_room_type(ctx, hotel_id, q.room_type_id)
    prices: dict[date, float] = {}
    if q.plan_id is not None or q.plan_key is not None:
        nights = await cacheops.nightly_prices(
            ctx.cache,
            hotel_id,
            q.plan_id,
            q.plan_key,
            q.start_date,
            q.end_date,
            ctx.horizon,
            ctx.pool,
        )
        if nights is None:
            named = q.plan_key or q.plan_id
            raise ApiError(404, "not_found", f"plan {named} not found in hotel {hotel_id}")
        prices = {n.date: float(n.price) for n in nights if n.price is not None}
    by_type: dict[int, list[NightOut]] = {}
    for e in read.entries:
        by_type.setdefault(e.room_type_id, []).append(
            NightOut(e.date, e.available, e.sellable, e.taken, e.overbooked, prices.get(e.date))
        )
    body = _encode(
        AvailabilityResponse(
            hotel_id,
            q.start_date,
            q.end_date,
            read.stale,
            q.plan_id,
            q.plan_key,
            [RoomTypeNights(k, v) for k, v in sorted(by_type.items())],
        )
    )
    return body, not read.stale


async def _check_room_type(ctx: ApiContext, hotel_id: int, room_type_id: int) -> None:
    """404 for a room type the hotel does not have, as for another hotel's plan; asked only
    when no night was found, so answers with nights pay nothing for it."""
    if all(t.id != room_type_id for t in await catalog.room_types(ctx, hotel_id)):
        raise ApiError(404, "not_found", f"room type {room_type_id} not found in hotel {hotel_id}")


ROUTES = [availability]
