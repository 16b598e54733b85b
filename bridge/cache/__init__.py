"""Cache backends behind one interface: in-process (embedded default) or Redis."""

from __future__ import annotations

from bridge.cache.base import Availability, AvailabilityKey, Cache
from bridge.cache.memory import MemoryCache
from bridge.cache.redis import RedisCache
from bridge.config import ConfigError, Settings


def open_cache(redis_url: str | None, prefix: str = "pmsb") -> Cache:
    return RedisCache(redis_url, prefix) if redis_url else MemoryCache()


def open_shared_cache(settings: Settings, instead: str) -> Cache:
    """The Redis cache `pms-bridge run` reads, for a command that writes it from outside: an
    in-process one would vanish with the command, and what it wrote with it."""
    if settings.redis_url is None:
        raise ConfigError(
            "REDIS_URL is not set: without it the cache lives inside `pms-bridge run`, "
            f"and this command's own would vanish with it; {instead}"
        )
    return RedisCache(settings.redis_url, settings.redis_prefix)


__all__ = [
    "Availability",
    "AvailabilityKey",
    "Cache",
    "MemoryCache",
    "RedisCache",
    "open_cache",
    "open_shared_cache",
]
