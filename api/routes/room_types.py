"""GET /room-types/{hotel_id}: the hotel's room types from the cache."""

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
from api.schemas import RoomTypeOut, RoomTypesResponse


@get(
    f"{PREFIX}/room-types/{{hotel_id:int}}",
    tags=["room-types"],
    operation_id="listRoomTypes",
    operation_class=Documented,
    opt=OPT("read"),
    responses=errors(404),
    summary="Room types of a hotel",
)
async def room_types(
    request: Request[Any, Any, Any],
    ctx: NamedDependency[ApiContext],
    principal: NamedDependency[Principal],
    hotel_id: PathId,
) -> RoomTypesResponse:
    note(request, "room_types.read", "hotel", str(hotel_id))
    same_hotel(principal, hotel_id)
    found = await catalog.room_types(ctx, hotel_id)
    return RoomTypesResponse(
        hotel_id,
        [RoomTypeOut(t.id, t.name, t.description, t.sellable_rooms, t.max_capacity) for t in found],
    )


ROUTES = [room_types]
