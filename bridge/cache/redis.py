"""Redis cache backend: one pipeline per batch write and per range read.

Layout (docs/redis-layout.md): availability lives in one hash per hotel and night,
`{prefix}:avail:{hotel_id}:{YYYY-MM-DD}`, field = room type id, value = msgpack array of the
entry; documents (hotels, room types, ...) in one hash per kind, `{prefix}:doc:{kind}`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import msgspec
import redis.asyncio as aioredis

from bridge.cache.base import Availability, AvailabilityKey

_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(Availability).decode


class RedisCache:
    def __init__(self, url: str, prefix: str = "pmsb") -> None:
        # A blocking pool makes a burst wait for a connection instead of failing with
        # "Too many connections" (the default pool's answer past its limit).
        pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=64, timeout=5)
        self._redis: aioredis.Redis = aioredis.Redis(connection_pool=pool)
        self.prefix = prefix

    def _night_key(self, hotel_id: int, night: date) -> str:
        return f"{self.prefix}:avail:{hotel_id}:{night.isoformat()}"

    def _doc_key(self, kind: str) -> str:
        return f"{self.prefix}:doc:{kind}"

    async def put_availability(
        self, entries: Sequence[Availability], deletes: Sequence[AvailabilityKey] = ()
    ) -> None:
        if not entries and not deletes:
            return
        by_night: dict[str, dict[str, bytes]] = {}
        for entry in entries:
            fields = by_night.setdefault(self._night_key(entry.hotel_id, entry.date), {})
            fields[str(entry.room_type_id)] = _encode(entry)
        pipe = self._redis.pipeline(transaction=False)
        for key, fields in by_night.items():
            pipe.hset(key, mapping=fields)  # type: ignore[arg-type]
        for gone in deletes:
            pipe.hdel(self._night_key(gone.hotel_id, gone.date), str(gone.room_type_id))
        await pipe.execute()

    async def get_availability(
        self, hotel_id: int, start: date, end: date, room_type_id: int | None = None
    ) -> list[Availability]:
        nights = [start + timedelta(days=i) for i in range((end - start).days)]
        if not nights:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for night in nights:
            if room_type_id is None:
                pipe.hgetall(self._night_key(hotel_id, night))
            else:
                pipe.hget(self._night_key(hotel_id, night), str(room_type_id))
        replies: list[Any] = await pipe.execute()
        found: list[Availability] = []
        for reply in replies:
            if reply is None:
                continue
            if isinstance(reply, dict):
                found.extend(sorted((_decode(v) for v in reply.values()), key=_type_order))
            else:
                found.append(_decode(reply))
        return found

    async def all_availability(self) -> list[Availability]:
        found: list[Availability] = []
        async for key in self._redis.scan_iter(match=f"{self.prefix}:avail:*", count=1000):
            found.extend(_decode(_bytes(v)) for v in await self._redis.hvals(key))
        return found

    async def put_document(self, kind: str, key: str, value: bytes) -> None:
        await self._redis.hset(self._doc_key(kind), key, value)

    async def put_documents(self, kind: str, values: dict[str, bytes]) -> None:
        if values:
            await self._redis.hset(self._doc_key(kind), mapping=values)  # type: ignore[arg-type]

    async def get_document(self, kind: str, key: str) -> bytes | None:
        value = await self._redis.hget(self._doc_key(kind), key)
        return None if value is None else _bytes(value)

    async def delete_documents(self, kind: str, keys: Sequence[str]) -> None:
        if keys:
            await self._redis.hdel(self._doc_key(kind), *keys)

    async def document_keys(self, kind: str) -> list[str]:
        keys = await self._redis.hkeys(self._doc_key(kind))
        return sorted(_bytes(k).decode() for k in keys)

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (aioredis.RedisError, OSError):
            return False

    async def clear(self) -> None:
        async for key in self._redis.scan_iter(match=f"{self.prefix}:*", count=1000):
            await self._redis.delete(key)

    async def close(self) -> None:
        await self._redis.aclose()
        await self._redis.connection_pool.disconnect()


def _bytes(value: bytes | str) -> bytes:
    """The client returns bytes (no decode_responses); the stubs allow str too."""
    return value if isinstance(value, bytes) else value.encode()


def _type_order(entry: Availability) -> int:
    return entry.room_type_id
