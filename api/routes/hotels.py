"""GET /hotels, /hotels/{id}, /hotels/{id}/images and /hotels/{id}/pricing, from the caches."""

from __future__ import annotations

from collections.abc import Hashable
from datetime import date, timedelta
from typing import Any

import msgspec
from litestar import MediaType, Request, Response, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromQuery

from api import catalog
from api.auth.guard import Principal, same_hotel
from api.context import ApiContext, pool_of
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
from api.schemas import (
    HotelOut,
    HotelsResponse,
    ImageOut,
    ImagesResponse,
    PlanPricing,
    PriceNight,
    PricingQuery,
    PricingResponse,
)
from bridge import cacheops

_encode = msgspec.json.Encoder().encode
MAX_PRICING_NIGHTS = 366
DEFAULT_PRICING_NIGHTS = 30


def hotel_out(h: cacheops.HotelInfo) -> HotelOut:
    return HotelOut(
        hotel_id=h.id,
        name=h.name,
        formal_name=h.formal_name,
        facility_type=h.facility_type,
        open_date=h.open_date,
        total_rooms=h.total_rooms,
        postal_code=h.postal_code,
        address=h.address,
        email=h.email,
        phone_number=h.phone_number,
        latitude=catalog.as_float(h.latitude),
        longitude=catalog.as_float(h.longitude),
        sort_order=h.sort_order,
    )


@get(
    f"{PREFIX}/hotels",
    tags=["hotels"],
    operation_id="listHotels",
    operation_class=Documented,
    opt=OPT("read"),
    responses=errors(),
    summary="The hotels this key may see (its own)",
)
async def list_hotels(
    request: Request[Any, Any, Any],
    ctx: NamedDependency[ApiContext],
    principal: NamedDependency[Principal],
) -> HotelsResponse:
    note(request, "hotel.list", "hotel")
    return HotelsResponse([hotel_out(await catalog.hotel(ctx, principal.hotel_id))])


HOTEL_ROUTE = f"{PREFIX}/hotels/{{hotel_id:int}}"
HOTEL_ACTION = "hotel.read"


def hotel_memo_key(hotel_id: int) -> Hashable:
    return ("hotel", hotel_id)


@get(
    HOTEL_ROUTE,
    tags=["hotels"],
    operation_id="getHotel",
    operation_class=Documented,
    opt=OPT("read"),
    responses={
        200: ResponseSpec(HotelOut, description="Hotel information", generate_examples=False),
        **errors(404),
    },
    summary="Hotel information",
)
async def get_hotel(
    request: Request[Any, Any, Any],
    ctx: NamedDependency[ApiContext],
    principal: NamedDependency[Principal],
    hotel_id: PathId,
) -> Response[bytes]:
    note(request, HOTEL_ACTION, "hotel", str(hotel_id))
    same_hotel(principal, hotel_id)

    async def compute() -> tuple[bytes, bool]:
        return _encode(hotel_out(await catalog.hotel(ctx, hotel_id))), True

    # Same rule as availability: an answer is reused while the hotel's version stands.
    version = ctx.memo_version(hotel_id)
    if version is None:
        body, _ = await compute()
    else:
        body = await ctx.catalog_memo.fetch(hotel_memo_key(hotel_id), version, compute)
    return Response(body, media_type=MediaType.JSON)


@get(
    f"{PREFIX}/hotels/{{hotel_id:int}}/images",
    tags=["hotels"],
    operation_id="listHotelImages",
    operation_class=Documented,
    opt=OPT("read"),
    responses=errors(404),
    summary="Hotel images, primary first",
)
async def hotel_images(
    request: Request[Any, Any, Any],
    ctx: NamedDependency[ApiContext],
    principal: NamedDependency[Principal],
    hotel_id: PathId,
) -> ImagesResponse:
    note(request, "hotel.images", "hotel", str(hotel_id))
    same_hotel(principal, hotel_id)
    found = await catalog.images(ctx, hotel_id)
    return ImagesResponse(
        hotel_id, [ImageOut(i.id, i.url, i.caption, i.sort_order, i.is_primary) for i in found]
    )


@get(
    f"{PREFIX}/hotels/{{hotel_id:int}}/pricing",
    tags=["pricing"],
    operation_id="getPricing",
    operation_class=Documented,
    opt=OPT("read", query=True),
    responses=errors(404),
    summary="Nightly price of each plan (default: the next 30 nights)",
)
async def hotel_pricing(
    request: Request[Any, Any, Any],
    ctx: NamedDependency[ApiContext],
    principal: NamedDependency[Principal],
    hotel_id: PathId,
    start_date: FromQuery[date | None] = None,
    end_date: FromQuery[date | None] = None,
    plan_id: QueryId = None,
    plan_key: QueryPlanKey = None,
) -> PricingResponse:
    """Nights start_date <= night < end_date."""
    q = parse_query(request, PricingQuery)
    note(request, "hotel.pricing", "hotel", str(hotel_id))
    same_hotel(principal, hotel_id)
    start = q.start_date or ctx.clock.today(hotel_id)
    if q.end_date is None and start > date.max - timedelta(days=DEFAULT_PRICING_NIGHTS):
        raise ApiError(
            400,
            "invalid_range",
            f"no {DEFAULT_PRICING_NIGHTS} nights follow this start_date: give an end_date",
        )
    end = q.end_date or start + timedelta(days=DEFAULT_PRICING_NIGHTS)
    if end <= start or (end - start).days > MAX_PRICING_NIGHTS:
        raise ApiError(
            400, "invalid_range", f"end_date must be 1-{MAX_PRICING_NIGHTS} days after start_date"
        )
    check_window(ctx.horizon, start, end, "pricing")
    plans = await cacheops.hotel_pricing(ctx.cache, hotel_id, start, end, ctx.horizon, pool_of(ctx))
    if plans is None:
        raise ApiError(404, "not_found", f"hotel {hotel_id} not found")
    if q.plan_id is not None or q.plan_key is not None:
        plans = [p for p in plans if p.is_plan(q.plan_id, q.plan_key)]
        if not plans:
            named = q.plan_key or q.plan_id
            raise ApiError(404, "not_found", f"plan {named} not found in hotel {hotel_id}")
    return PricingResponse(
        hotel_id,
        start,
        end,
        [
            PlanPricing(
                p.plan_key,
                p.plan_id,
                p.plans_global_id,
                p.name,
                p.plan_type,
                [PriceNight(n.date, float(n.price)) for n in p.nights],
            )
            for p in plans
        ],
    )


ROUTES = [list_hotels, get_hotel, hotel_images, hotel_pricing]
