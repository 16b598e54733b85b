"""Memo versions through Redis: the bridge's writers move exactly the hotels they wrote, one
message per flush; a follower holds the hash's values, learns them on subscribing, memoizes
nothing while it does not know them, and a lost subscription still retires after it is back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import msgspec
import psycopg
import redis.asyncio as aioredis
from redis.asyncio.client import PubSub

from api.memo import ResponseMemo
from bridge.cache.memory import MemoryCache
from bridge.config import Settings
from bridge.live_status import Moved, Moves
from bridge.projectors.availability import AvailabilityDirty
from bridge.projectors.catalog import CatalogDirty
from bridge.projectors.prices import PricesDirty
from bridge.service import horizon
from bridge.shared_version import SharedVersions, announce, publish
from bridge.sinks import availability as availability_sink
from bridge.sinks import prices as prices_sink
from bridge.sinks.catalog import CatalogStage
from tests.support.api_server import room_type_with_rooms

# A version's fields: (epoch, every, hotel, live).
EPOCH, EVERY, HOTEL, LIVE = range(4)


async def until(check: Callable[[], bool], what: str) -> None:
    for _ in range(400):  # an upper bound on waiting for Redis, not a timing assertion
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never: {what}")


@asynccontextmanager
async def announcing(redis_url: str, prefix: str) -> AsyncIterator[Moves]:
    moves, stop = Moves(), asyncio.Event()
    task = asyncio.create_task(announce(redis_url, prefix, moves, stop))
    try:
        yield moves
    finally:
        stop.set()
        await task


@asynccontextmanager
async def following(redis_url: str, prefix: str) -> AsyncIterator[SharedVersions]:
    shared = SharedVersions(redis_url, prefix)
    shared.start()
    try:
        yield shared
    finally:
        await shared.stop()


def count(shared: SharedVersions, hotel_id: int) -> int | None:
    version = shared.current(hotel_id)
    return None if version is None else version[HOTEL]


async def test_a_follower_holds_each_hotels_version_as_the_bridge_moves_it(
    redis_url: str, redis_prefix: str
) -> None:
    redis = aioredis.Redis.from_url(redis_url)
    async with (
        following(redis_url, redis_prefix) as early,
        announcing(redis_url, redis_prefix) as moves,
    ):
        assert early.current(3) is None  # nothing published yet: nothing is memoized
        moves.capture(True)
        await until(lambda: early.current(3) is not None, "capture's state reached it")
        first = early.current(3)
        assert first is not None and first[LIVE] and first[HOTEL] == 0
        moves.hotels([3, 5])
        moves.flush()
        await until(lambda: count(early, 3) == 1, "hotel 3 moved")
        moved = early.current(3)
        assert moved == (first[EPOCH], first[EVERY], 1, True)  # the same subscription
        assert count(early, 5) == 1 and count(early, 7) == 0
        # The hash holds the same counts: one that subscribes later reads them, in an epoch
        # of its own.
        assert await redis.hget(f"{redis_prefix}:memo:versions", "3") == b"1"
        async with following(redis_url, redis_prefix) as late:
            await until(lambda: late.current(3) is not None, "the late one read the hash")
            late_version = late.current(3)
            assert late_version is not None and late_version[1:] == moved[1:]
            moves.capture(False)
            await until(lambda: early.live() is False and late.live() is False, "capture lost")
            # Connected again, every hotel moves: answers from before may miss changes.
            moves.capture(True)
            await until(lambda: late.live() is True, "capture is back")
            back = late.current(7)
            assert back is not None and back[EVERY] == late_version[EVERY] + 1
    await redis.aclose()


async def next_message(listener: PubSub) -> list[int]:
    message = await listener.get_message(ignore_subscribe_messages=True, timeout=30)
    assert message is not None, "no message within 30 s"
    return msgspec.msgpack.decode(message["data"], type=list[int])


async def test_a_flush_is_one_message_naming_exactly_the_hotels_written(
    redis_url: str, redis_prefix: str
) -> None:
    redis = aioredis.Redis.from_url(redis_url)
    async with redis.pubsub() as listener:
        await listener.subscribe(f"{redis_prefix}:memo:moved")
        confirmed = await listener.get_message(timeout=30)
        assert confirmed is not None and confirmed["type"] == "subscribe"
        async with announcing(redis_url, redis_prefix) as moves:
            moves.capture(True)
            moves.hotels([4])
            moves.hotels([9, 4])
            moves.flush()
            messages = [await next_message(listener)]
            moves.hotels([9])
            moves.flush()
            messages.append(await next_message(listener))
    await redis.aclose()
    # [live, every, hotel, count, ...]: the first flush names 4 and 9 once each, the second 9.
    assert messages == [[1, 1, 4, 1, 9, 1], [1, 1, 9, 2]]


async def test_writers_outside_the_bridge_move_their_hotels_or_every_hotel(
    redis_url: str, redis_prefix: str
) -> None:
    async with (
        following(redis_url, redis_prefix) as shared,
        announcing(redis_url, redis_prefix) as moves,
    ):
        moves.capture(True)
        await until(lambda: shared.current(1) is not None, "capture's state reached it")
        before = {h: shared.current(h) for h in (1, 2)}
        await publish(redis_url, redis_prefix, [2])  # e.g. a cache update of hotel 2
        await until(lambda: count(shared, 2) == 1, "hotel 2 moved")
        assert shared.current(1) == before[1]
        assert shared.live() is True  # a writer outside the bridge leaves capture's state
        await publish(redis_url, redis_prefix, [], every=True)  # e.g. a full rebuild
        await until(lambda: shared.current(1) != before[1], "every hotel moved")
        after = shared.current(1)
        assert after is not None and before[1] is not None
        assert after[EVERY] == before[1][EVERY] + 1


async def test_publishing_without_redis_is_nothing_to_do() -> None:
    await publish(None, "p", [1], every=True)


async def test_a_subscription_killed_memoizes_nothing_and_still_retires_once_back(
    redis_url: str, redis_prefix: str
) -> None:
    memo: ResponseMemo[bytes] = ResponseMemo("test", max_age=3600)
    redis = aioredis.Redis.from_url(redis_url)
    async with (
        following(redis_url, redis_prefix) as shared,
        announcing(redis_url, redis_prefix) as moves,
    ):
        moves.capture(True)
        await until(lambda: shared.current(3) is not None, "capture's state reached it")
        kept = shared.current(3)
        memo.put(3, kept, b"hotel 3 before")
        memo.put(4, shared.current(4), b"hotel 4 before")
        assert memo.get(3, shared.current(3)) == b"hotel 3 before"

        killed = await redis.client_kill_filter(_type="pubsub")
        assert killed >= 1
        # Moves published while it is not subscribed are lost to it; the new subscription's
        # epoch retires what was kept under the old one.
        moves.hotels([3])
        moves.flush()
        await until(
            lambda: (
                (now := shared.current(3)) is not None
                and kept is not None
                and now[EPOCH] > kept[EPOCH]
            ),
            "subscribed again",
        )
        assert memo.get(3, shared.current(3)) is None
        assert memo.get(4, shared.current(4)) is None
        assert count(shared, 3) == 1  # read from the hash on subscribing

        # Once back, a move reaches it as before and retires only its hotel.
        memo.put(3, shared.current(3), b"hotel 3 after")
        memo.put(4, shared.current(4), b"hotel 4 after")
        moves.hotels([3])
        moves.flush()
        await until(lambda: count(shared, 3) == 2, "hotel 3 moved again")
        assert memo.get(3, shared.current(3)) is None
        assert memo.get(4, shared.current(4)) == b"hotel 4 after"
    await redis.aclose()


async def test_versions_lost_with_redis_are_restated_by_the_idle_bridge(
    redis_url: str, redis_prefix: str
) -> None:
    redis = aioredis.Redis.from_url(redis_url)
    async with (
        following(redis_url, redis_prefix) as shared,
        announcing(redis_url, redis_prefix) as moves,
    ):
        moves.capture(True)
        await until(lambda: shared.live() is True, "capture's state reached it")
        # As Redis restarted empty: the hash gone, every subscription dropped.
        await redis.delete(f"{redis_prefix}:memo:versions")
        await redis.client_kill_filter(_type="pubsub")
        await until(lambda: shared.current(1) is None, "it knows nothing after resubscribing")
        # With nothing to announce, the bridge still says capture's state again.
        await until(lambda: shared.live() is True, "the versions were restated")
        assert await redis.hget(f"{redis_prefix}:memo:versions", "live") == b"1"
    await redis.aclose()


async def test_each_sink_names_the_hotels_it_wrote(settings: Settings, db_url: str) -> None:
    cache, moves, kept = MemoryCache(), Moves(), horizon(settings)

    type_id, _ = await room_type_with_rooms(db_url, 2)
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        dirty = AvailabilityDirty(room_types={(2, type_id)})
        await availability_sink.apply(conn, cache, dirty, kept, moves)
        assert moves.written() == Moved(frozenset({2}), False, False)

        await prices_sink.apply(conn, cache, PricesDirty(hotels={1}), kept, moves)
        assert moves.written() == Moved(frozenset({1}), False, False)
        # A global plan's hotels are those the recompute repriced: both sell plan 1.
        await prices_sink.apply(conn, cache, PricesDirty(global_plans={1}), kept, moves)
        assert moves.written() == Moved(frozenset({1, 2}), False, False)

        auto = CatalogStage(cache, "auto", moves)
        await auto.apply(conn, CatalogDirty(hotels={1: 1}))
        assert moves.written() == Moved(frozenset({1}), False, False)
        # After a truncate any hotel may have changed: every hotel moves.
        await auto.apply(conn, CatalogDirty(everything_room_types=True))
        assert moves.written() == Moved(frozenset(), True, False)
        # The manual policy writes no cache for a captured change: nothing moves.
        await CatalogStage(cache, "manual", moves).apply(conn, CatalogDirty(hotels={2: 1}))
        assert moves.written() == Moved(frozenset(), False, False)
