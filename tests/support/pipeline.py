"""Driving a bridge until its source is drained, its cache set against a recompute, and the
PMS read and changed directly."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg

from bridge.cache.base import Cache
from bridge.cache.memory import MemoryCache
from bridge.config import Settings
from bridge.pipeline import Bridge
from bridge.service import build_bridge, horizon
from bridge.snapshot import rebuild_availability


async def outbox_size(url: str) -> int:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute("SELECT count(*) FROM pms_bridge.outbox")
        row = await cur.fetchone()
        return int(row[0]) if row else 0


IDLE_POLLS = 5


async def drain(bridge: Bridge, settings: Settings, *, limit_s: float = 120.0) -> None:
    """Step the bridge until its source has nothing left; `limit_s` only guards against hangs."""
    stop = asyncio.Event()
    await bridge._open(stop)
    try:
        deadline = time.monotonic() + limit_s
        idle = 0
        while time.monotonic() < deadline:
            applied = await bridge.step()
            idle = idle + 1 if applied == 0 else 0
            # Several empty polls, not two: a walsender that has just (re)started on a busy
            # machine can take a few polls to send what is already committed.
            if idle >= IDLE_POLLS and (await bridge.source.lag())[0] == 0:
                return
        raise AssertionError(f"bridge did not drain within {limit_s}s")
    finally:
        await bridge._close()


async def run_once(settings: Settings, cache: Cache) -> Bridge:
    bridge, _ = build_bridge(settings, cache)
    await drain(bridge, settings)
    return bridge


async def truth(url: str, settings: Settings) -> dict[tuple[int, int, Any], tuple[int, int, int]]:
    """Availability from scratch: (hotel, type, night) -> (sellable, taken, available)."""
    fresh = MemoryCache()
    async with await psycopg.AsyncConnection.connect(url) as conn:
        await rebuild_availability(conn, fresh, horizon(settings))
    return {
        (e.hotel_id, e.room_type_id, e.date): (e.sellable, e.taken, e.available)
        for e in await fresh.all_availability()
    }


async def cached(cache: Cache) -> dict[tuple[int, int, Any], tuple[int, int, int]]:
    return {
        (e.hotel_id, e.room_type_id, e.date): (e.sellable, e.taken, e.available)
        for e in await cache.all_availability()
    }


async def add_pms_hotel(url: str, name: str) -> int:
    """What the PMS does for a new hotel: its row, its partitions, two room types (Single,
    Double) and three rooms of each; every statement committed on its own."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute("INSERT INTO hotels (name) VALUES (%s) RETURNING id", (name,))
        row = await cur.fetchone()
        assert row is not None
        hotel_id: int = row[0]
        await conn.execute("SELECT pms_create_hotel_partitions(%s)", (hotel_id,))
        await conn.execute(
            "INSERT INTO room_types (hotel_id, name) VALUES (%s, 'Single'), (%s, 'Double')",
            (hotel_id, hotel_id),
        )
        await conn.execute(
            "INSERT INTO rooms (hotel_id, room_type_id, room_number)"
            " SELECT %s, t.id, t.name || '-' || i FROM room_types t, generate_series(1, 3) i"
            " WHERE t.hotel_id = %s",
            (hotel_id, hotel_id),
        )
    return hotel_id
