"""GET availability per room type and night, served from the cache."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

import msgspec
from litestar import get
from litestar.params import Parameter

from api.context import ApiContext
from api.errors import ApiError
from metrics.definitions import cache_requests

MAX_NIGHTS = 90


class Night(msgspec.Struct):
    date: date
    available: int
    sellable: int
    taken: int
    overbooked: int


class RoomTypeAvailability(msgspec.Struct):
    room_type_id: int
    nights: list[Night]


class AvailabilityResponse(msgspec.Struct):
    hotel_id: int
    start_date: date
    end_date: date
    stale: bool
    room_types: list[RoomTypeAvailability]


@get("/api/booking-engine/availability/{hotel_id:int}", tags=["availability"])
async def availability(
    ctx: ApiContext,
    hotel_id: int,
    start_date: date,
    end_date: date,
    room_type_id: Annotated[int | None, Parameter(ge=1)] = None,
) -> AvailabilityResponse:
    """Availability for nights start_date <= night < end_date (check-out day excluded)."""
    if end_date <= start_date:
        raise ApiError(400, "invalid_range", "end_date must be after start_date")
    if end_date - start_date > timedelta(days=MAX_NIGHTS):
        raise ApiError(400, "invalid_range", f"at most {MAX_NIGHTS} nights per request")
    entries = await ctx.cache.get_availability(hotel_id, start_date, end_date, room_type_id)
    cache_requests.labels(kind="availability", result="hit" if entries else "miss").inc()
    by_type: dict[int, list[Night]] = {}
    for e in entries:
        by_type.setdefault(e.room_type_id, []).append(
            Night(e.date, e.available, e.sellable, e.taken, e.overbooked)
        )
    return AvailabilityResponse(
        hotel_id,
        start_date,
        end_date,
        stale=ctx.bridge is not None and not ctx.bridge.connected,
        room_types=[RoomTypeAvailability(k, v) for k, v in sorted(by_type.items())],
    )
