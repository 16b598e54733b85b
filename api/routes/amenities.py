"""GET /amenities/{hotel_id}: the hotel's amenities from the cache."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.di import NamedDependency

from api import catalog
from api.auth.guard import Principal, same_hotel
from api.context import ApiContext
from api.openapi import Documented
from api.paths import PREFIX
from api.routes.common import OPT, PathId, errors, note
from api.schemas import AmenitiesResponse, AmenityOut


@get(
    f"{PREFIX}/amenities/{{hotel_id:int}}",
    tags=["amenities"],
    operation_id="listAmenities",
    operation_class=Documented,
    opt=OPT("read"),
    responses=errors(404),
    summary="Amenities of a hotel",
)
async def amenities(
    request: Request[Any, Any, Any],
    ctx: NamedDependency[ApiContext],
    principal: NamedDependency[Principal],
    hotel_id: PathId,
) -> AmenitiesResponse:
    note(request, "amenities.read", "hotel", str(hotel_id))
    same_hotel(principal, hotel_id)
    found = await catalog.amenities(ctx, hotel_id)
    return AmenitiesResponse(
        hotel_id,
        [AmenityOut(a.id, a.name, a.category, a.description, a.icon, a.sort_order) for a in found],
    )


ROUTES = [amenities]
