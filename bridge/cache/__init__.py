"""Cache backends behind one interface: in-process (embedded default) or Redis."""

from __future__ import annotations

from bridge.cache.base import Availability, AvailabilityKey, Cache
from bridge.cache.memory import MemoryCache
from bridge.cache.redis import RedisCache


def open_cache(redis_url: str | None, prefix: str = "pmsb") -> Cache:
    return RedisCache(redis_url, prefix) if redis_url else MemoryCache()


__all__ = ["Availability", "AvailabilityKey", "Cache", "MemoryCache", "RedisCache", "open_cache"]
