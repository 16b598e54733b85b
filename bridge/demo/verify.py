"""Compares the cache with availability recomputed from scratch: lost/duplicated figures."""

from __future__ import annotations

from typing import Any

import msgspec
import psycopg

from bridge.cache.base import Cache
from bridge.cache.memory import MemoryCache
from bridge.horizon import Horizon
from bridge.snapshot import rebuild_availability


class Verdict(msgspec.Struct):
    keys: int
    lost: int
    duplicated: int
    mismatched: list[str]


async def compare(conn: psycopg.AsyncConnection[Any], cache: Cache, horizon: Horizon) -> Verdict:
    """lost: the cache shows a room free that is taken, or misses a key (a change not applied);
    duplicated: the cache shows more taken than there is, or a key that should not exist
    (a change applied twice, or a release not applied)."""
    truth_cache = MemoryCache()
    await rebuild_availability(conn, truth_cache, horizon)
    truth = {(e.hotel_id, e.room_type_id, e.date): e for e in await truth_cache.all_availability()}
    cached = {(e.hotel_id, e.room_type_id, e.date): e for e in await cache.all_availability()}
    lo, hi = horizon.bounds()
    lost = duplicated = 0
    mismatched: list[str] = []
    for key, expected in truth.items():
        got = cached.get(key)
        if got is None or got.taken < expected.taken or got.sellable != expected.sellable:
            lost += 1
        elif got.taken > expected.taken or got.overbooked != expected.overbooked:
            duplicated += 1
        else:
            continue
        mismatched.append(f"{key}: cache={got} truth={expected}")
    for key in cached.keys() - truth.keys():
        if lo <= cached[key].date <= hi:
            duplicated += 1
            mismatched.append(f"{key}: in cache only")
    return Verdict(len(truth), lost, duplicated, mismatched[:20])
