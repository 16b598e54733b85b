"""Full rebuild of the availability cache from the PMS tables, one hotel at a time."""

from __future__ import annotations

import time
from typing import Any

import psycopg

from bridge.cache.base import Cache
from bridge.horizon import Horizon
from bridge.projectors.availability import AvailabilityDirty
from bridge.sinks import availability as availability_sink

# Cache document ("meta" kind) set once the availability cache holds a full build.
BUILT_MARKER = "availability_built"


async def rebuild_availability(
    conn: psycopg.AsyncConnection[Any], cache: Cache, horizon: Horizon
) -> int:
    """Recompute every (hotel, room type, night) in the horizon; returns entries written."""
    by_hotel: dict[int, set[tuple[int, int]]] = {}
    for t in await availability_sink.all_room_types(conn):
        by_hotel.setdefault(t.hotel_id, set()).add((t.hotel_id, t.room_type_id))
    written = 0
    for room_types in by_hotel.values():
        written += await availability_sink.apply(
            conn, cache, AvailabilityDirty(room_types=room_types), horizon
        )
    await cache.put_document("meta", BUILT_MARKER, str(time.time()).encode())
    return written
