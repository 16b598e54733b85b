"""Memo versions shared through Redis: writers of the caches publish which hotels moved, and
every API process follows them to keep memoized answers exact (docs/redis-layout.md)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Any, cast

import msgspec
import redis.asyncio as aioredis

from bridge.live_status import MemoVersion, MemoVersions, Moves

log = logging.getLogger("pms_bridge.shared_version")

RETRY_SECONDS = 1.0
# How often an idle announcer looks whether Redis lost the versions (restarted empty): until
# `live` is set again, followers keep nothing.
RESTATE_SECONDS = 5.0
# Besides Redis being down, a Redis without the script libraries: said, retried, never fatal.
DOWN = (aioredis.RedisError, OSError)

# One round trip moves the named hotels (and `every`) and publishes their new counts, so a
# follower holds exactly the hash's values. ARGV: live (1, 0, or empty to leave it), every
# (1 or 0), then hotel ids. The message: [live (-1 while no bridge has said), every, hotel,
# count, hotel, count, ...].
_MOVE_LUA = """
if ARGV[1] ~= '' then redis.call('HSET', KEYS[1], 'live', ARGV[1]) end
local every
if ARGV[2] == '1' then
  every = redis.call('HINCRBY', KEYS[1], 'every', 1)
else
  every = tonumber(redis.call('HGET', KEYS[1], 'every') or '0')
end
local moved = {tonumber(redis.call('HGET', KEYS[1], 'live') or '-1'), every}
for i = 3, #ARGV do
  moved[#moved + 1] = tonumber(ARGV[i])
  moved[#moved + 1] = redis.call('HINCRBY', KEYS[1], ARGV[i], 1)
end
redis.call('PUBLISH', KEYS[2], cmsgpack.pack(moved))
"""
_decode = msgspec.msgpack.Decoder(list[int]).decode


def _names(prefix: str) -> tuple[str, str]:
    """The hash of versions (read on subscribing) and the channel of their moves."""
    return f"{prefix}:memo:versions", f"{prefix}:memo:moved"


async def _move(
    client: aioredis.Redis, prefix: str, hotels: Iterable[int], every: bool, live: bool | None
) -> None:
    script: Any = client.register_script(_MOVE_LUA)
    flag = "" if live is None else str(int(live))
    await script(keys=list(_names(prefix)), args=[flag, int(every), *sorted(hotels)])


async def publish(
    redis_url: str | None, prefix: str, hotels: Iterable[int], every: bool = False
) -> None:
    """Moves these hotels (every hotel's answers too, when `every`), for a writer outside the
    bridge's batches: a cache command, an admin route, a reconcile. Without Redis no other
    process holds answers from this one's cache."""
    if not redis_url:
        return
    client = aioredis.Redis.from_url(redis_url)
    try:
        await _move(client, prefix, hotels, every, None)
    finally:
        await client.aclose()


async def announce(redis_url: str, prefix: str, moves: Moves, stop: asyncio.Event) -> None:
    """Publishes what the bridge's writers flushed, until stop; flushes made while one
    announcement is in flight go together in the next."""
    client = aioredis.Redis.from_url(redis_url)
    key = _names(prefix)[0]
    stopper = asyncio.create_task(stop.wait())
    try:
        while not stop.is_set():
            ready = asyncio.create_task(moves.ready.wait())
            await asyncio.wait(
                [ready, stopper], timeout=RESTATE_SECONDS, return_when=asyncio.FIRST_COMPLETED
            )
            ready.cancel()
            if stop.is_set():
                break
            due = moves.ready.is_set()
            moved = moves.take()
            try:
                if due:
                    await _move(client, prefix, moved.hotels, moved.every, moved.live)
                elif not await client.hexists(key, "live"):
                    await _move(client, prefix, (), False, moved.live)
            except DOWN as exc:
                if not due:
                    continue  # looked again in RESTATE_SECONDS
                # Followers that miss it keep answers at most their memo's age bound.
                log.warning("could not publish the memo versions: %s", exc)
                moves.retry(moved)
                await asyncio.sleep(RETRY_SECONDS)
    finally:
        stopper.cancel()
        await client.aclose()


def _versions(fields: dict[bytes, bytes], epoch: int) -> MemoVersions | None:
    """The hash as a follower holds it; None until a bridge has said whether capture is live."""
    live = fields.pop(b"live", None)
    if live is None:
        return None
    every = int(fields.pop(b"every", b"0"))
    hotels = {int(k): int(v) for k, v in fields.items()}
    return MemoVersions(epoch, every, live == b"1", hotels)


class SharedVersions:
    """The memo versions as this process follows them. None while they are not known (no
    subscription, or no bridge has published): nothing is memoized then. Each subscription
    starts a new epoch, since moves published while it was down are lost."""

    def __init__(self, redis_url: str, prefix: str) -> None:
        self._url = redis_url
        self._key, self._channel = _names(prefix)
        self._epoch = 0
        self._versions: MemoVersions | None = None
        self._task: asyncio.Task[None] | None = None

    def current(self, hotel_id: int) -> MemoVersion | None:
        versions = self._versions
        return None if versions is None else versions.of(hotel_id)

    def live(self) -> bool | None:
        versions = self._versions
        return None if versions is None else versions.live

    def start(self) -> None:
        self._task = asyncio.create_task(self._follow(), name="shared-versions")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _follow(self) -> None:
        while True:
            try:
                await self._subscribed()
            except DOWN as exc:
                log.warning("lost the memo versions (%s); memoizing nothing meanwhile", exc)
            self._versions = None
            await asyncio.sleep(RETRY_SECONDS)

    async def _subscribed(self) -> None:
        client = aioredis.Redis.from_url(self._url)
        try:
            async with client.pubsub() as pubsub:
                await pubsub.subscribe(self._channel)
                # Subscribed first, read second: a move published in between is not lost.
                # Bytes: the client decodes no responses.
                fields = cast(dict[bytes, bytes], await client.hgetall(self._key))
                self._epoch += 1
                self._versions = _versions(fields, self._epoch)
                async for message in pubsub.listen():
                    if message["type"] == "message":
                        self._moved(_decode(message["data"]))
        finally:
            await client.aclose()

    def _moved(self, moved: list[int]) -> None:
        live, every = moved[0], moved[1]
        if live < 0:
            self._versions = None
            return
        versions = self._versions
        if versions is None:
            # Hotels it does not name keep the count they had in this epoch: none was kept.
            versions = self._versions = MemoVersions(self._epoch)
        versions.live = live == 1
        versions.every = every
        hotels = versions.hotels
        for i in range(2, len(moved), 2):
            hotels[moved[i]] = moved[i + 1]
