"""The bridge's status version shared through Redis: the bridge publishes each move, and API
replicas (`run --api-only`) follow it to keep memoized answers exact."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import cast

import msgspec
import redis.asyncio as aioredis

from bridge.live_status import BridgeStatus, Version, version_of

log = logging.getLogger("pms_bridge.shared_version")

RETRY_SECONDS = 1.0
_decode = msgspec.msgpack.Decoder(Version).decode
_encode = msgspec.msgpack.Encoder().encode


def _names(prefix: str) -> tuple[str, str]:
    """The key holding the last version (read on subscribing) and the channel of its moves."""
    return f"{prefix}:status:version", f"{prefix}:status:moved"


async def announce(
    redis_url: str, prefix: str, bridge: BridgeStatus, moved: asyncio.Event, stop: asyncio.Event
) -> None:
    """Publishes the bridge's version whenever `moved` is set, until stop; moves made while
    one is being published are sent as one."""
    key, channel = _names(prefix)
    client = aioredis.Redis.from_url(redis_url)
    stopper = asyncio.create_task(stop.wait())
    try:
        while not stop.is_set():
            mover = asyncio.create_task(moved.wait())
            await asyncio.wait([mover, stopper], return_when=asyncio.FIRST_COMPLETED)
            mover.cancel()
            if stop.is_set():
                break
            moved.clear()
            payload = _encode(version_of(bridge))
            try:
                pipe = client.pipeline(transaction=True)
                pipe.set(key, payload)
                pipe.publish(channel, payload)
                await pipe.execute()
            except (aioredis.ConnectionError, aioredis.TimeoutError, OSError) as exc:
                # Replicas that miss it keep answers at most their memo's age bound.
                log.warning("could not publish the bridge's version: %s", exc)
                moved.set()
                await asyncio.sleep(RETRY_SECONDS)
    finally:
        stopper.cancel()
        await client.aclose()


class SharedVersion:
    """The last version the bridge published, as seen by this process. None while it is not
    known (no subscription, or no bridge has published): nothing is memoized then. Each new
    subscription starts a new epoch, since moves published while it was down are lost."""

    def __init__(self, redis_url: str, prefix: str) -> None:
        self._url = redis_url
        self._key, self._channel = _names(prefix)
        self._epoch = 0
        self._version: Version | None = None
        self._task: asyncio.Task[None] | None = None

    def current(self) -> tuple[int, Version] | None:
        version = self._version
        return None if version is None else (self._epoch, version)

    def start(self) -> None:
        self._task = asyncio.create_task(self._follow(), name="shared-version")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _follow(self) -> None:
        while True:
            try:
                await self._subscribed()
            except (aioredis.ConnectionError, aioredis.TimeoutError, OSError) as exc:
                log.warning("lost the bridge's version (%s); memoizing nothing meanwhile", exc)
            self._version = None
            await asyncio.sleep(RETRY_SECONDS)

    async def _subscribed(self) -> None:
        client = aioredis.Redis.from_url(self._url)
        try:
            async with client.pubsub() as pubsub:
                await pubsub.subscribe(self._channel)
                # Subscribed first, read second: a move published in between is not lost.
                last = await client.get(self._key)
                self._epoch += 1
                # Bytes: the client decodes no responses.
                self._version = None if last is None else _decode(cast(bytes, last))
                async for message in pubsub.listen():
                    if message["type"] == "message":
                        self._version = _decode(message["data"])
        finally:
            await client.aclose()
