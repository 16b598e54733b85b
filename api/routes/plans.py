"""GET /plans/{hotel_id}: the hotel's plans, in the shape the PMS's own API serves."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.di import NamedDependency

from api.auth.guard import Principal, same_hotel
from api.context import ApiContext, pool_of
from api.errors import ApiError
from api.openapi import Documented
from api.paths import PREFIX
from api.routes.common import OPT, PathId, errors, note
from api.schemas import PlanOut, PlansResponse
from bridge import cacheops


@get(
    f"{PREFIX}/plans/{{hotel_id:int}}",
    tags=["plans"],
    operation_id="listPlans",
    operation_class=Documented,
    opt=OPT("read"),
    responses=errors(404),
    summary="Plans of a hotel",
)
async def plans(
    request: Request[Any, Any, Any],
    ctx: NamedDependency[ApiContext],
    principal: NamedDependency[Principal],
    hotel_id: PathId,
) -> PlansResponse:
    note(request, "plans.read", "hotel", str(hotel_id))
    same_hotel(principal, hotel_id)
    today = ctx.clock.today(hotel_id)
    found = await cacheops.hotel_pricing(
        ctx.cache, hotel_id, today, today, ctx.horizon, pool_of(ctx)
    )
    if found is None:
        raise ApiError(404, "not_found", f"hotel {hotel_id} not found")
    return PlansResponse(
        hotel_id,
        [PlanOut(p.plan_key, p.plan_id, p.plans_global_id, p.name, p.plan_type) for p in found],
    )


ROUTES = [plans]
