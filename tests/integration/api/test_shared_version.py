"""The bridge's version through Redis: a replica learns the last one on subscribing, follows
every move, and memoizes nothing while it does not know it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bridge.live_status import Version
from bridge.shared_version import SharedVersion, announce


@dataclass
class Status:
    """A bridge's status as its readers see it, moved by the test."""

    applied: int = 0
    connections: int = 1
    connected: bool = True
    paused: str | None = None
    lag: tuple[float, float] = (0.0, 0.0)
    capture: str = "trigger"

    def heartbeat_age(self) -> float | None:
        return None

    def latency_percentile(self, q: float) -> float:
        return 0.0


async def until(shared: SharedVersion, wanted: Version | None) -> tuple[int, Version] | None:
    for _ in range(200):  # an upper bound on waiting for Redis, not a timing assertion
        current = shared.current()
        if (current and current[1]) == wanted:
            return current
        await asyncio.sleep(0.05)
    raise AssertionError(f"the replica never saw {wanted}, only {shared.current()}")


async def test_a_replica_follows_the_bridges_version(redis_url: str, redis_prefix: str) -> None:
    status, moved, stop = Status(), asyncio.Event(), asyncio.Event()
    early = SharedVersion(redis_url, redis_prefix)
    early.start()
    publishing = asyncio.create_task(announce(redis_url, redis_prefix, status, moved, stop))
    try:
        assert early.current() is None  # nothing published yet: nothing is memoized
        moved.set()
        first = await until(early, Version(0, 1, True))
        status.applied = 5
        moved.set()
        assert (await until(early, Version(5, 1, True)))[0] == first[0]  # the same subscription
        # One that subscribes later reads the last version, in an epoch of its own.
        late = SharedVersion(redis_url, redis_prefix)
        late.start()
        try:
            await until(late, Version(5, 1, True))
            status.connected = False
            moved.set()
            await until(late, Version(5, 1, False))
            await until(early, Version(5, 1, False))
        finally:
            await late.stop()
    finally:
        stop.set()
        await publishing
        await early.stop()
