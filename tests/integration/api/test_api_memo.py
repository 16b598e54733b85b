"""The availability memo: one computation for concurrent callers, nothing kept across versions
(an applied change, a capture reconnection), and its answers sent gzipped to clients that
accept it."""

from __future__ import annotations

import asyncio
import gzip
from datetime import date, timedelta

import httpx
import psycopg
import pytest

from api.memo import ResponseMemo
from bridge.cache.memory import MemoryCache
from bridge.config import Settings
from bridge.live_status import Moves
from bridge.shared_version import announce, publish
from metrics.definitions import REGISTRY
from tests.support.api_server import (
    create_key,
    fill_all_but,
    room_type_with_rooms,
    running_api,
)

START = date.today() + timedelta(days=9)
PATH = f"/api/booking-engine/availability/1?start_date={START}&end_date={START + timedelta(30)}"


def memo_hits() -> float:
    labels = {"memo": "availability", "outcome": "hit"}
    return REGISTRY.get_sample_value("pms_bridge_api_memo_answers_total", labels) or 0.0


async def answered_from_memo(http: httpx.AsyncClient) -> httpx.Response:
    """Asks until an answer comes from the memo: one built before capture is connected says
    `stale` and is not kept."""
    for _ in range(100):  # an upper bound on waiting for capture, not a timing assertion
        hits = memo_hits()
        reply = await http.get(PATH)
        if memo_hits() == hits + 1:
            return reply
        await asyncio.sleep(0.1)
    raise AssertionError("no answer came from the memo")


async def test_concurrent_callers_share_one_computation() -> None:
    memo = ResponseMemo[bytes]("test")
    calls = 0
    release = asyncio.Event()

    async def compute() -> tuple[bytes, bool]:
        nonlocal calls
        calls += 1
        await release.wait()
        return b"answer", True

    waiting = [asyncio.create_task(memo.fetch("k", 1, compute)) for _ in range(50)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*waiting) == [b"answer"] * 50
    assert calls == 1
    assert await memo.fetch("k", 1, compute) == b"answer" and calls == 1
    assert await memo.fetch("k", 2, compute) == b"answer" and calls == 2  # new version


async def test_stale_answers_and_failures_are_not_kept() -> None:
    memo = ResponseMemo[bytes]("test")
    answers = iter([(b"stale", False), (b"fresh", True)])

    async def compute() -> tuple[bytes, bool]:
        return next(answers)

    assert await memo.fetch("k", 1, compute) == b"stale"
    assert await memo.fetch("k", 1, compute) == b"fresh"

    async def broken() -> tuple[bytes, bool]:
        raise LookupError("no such plan")

    with pytest.raises(LookupError):
        await memo.fetch("other", 1, broken)
    assert memo.get("other", 1) is None


async def test_an_aged_answer_is_served_while_its_successor_is_computed() -> None:
    memo = ResponseMemo[bytes]("test", max_age=0.5)
    memo.put("k", 1, b"old")
    await asyncio.sleep(0.6)
    assert memo.get("k", 1) is None  # aged out: the next caller computes
    release = asyncio.Event()

    async def compute() -> tuple[bytes, bool]:
        await release.wait()
        return b"new", True

    computing = asyncio.create_task(memo.fetch("k", 1, compute))
    await asyncio.sleep(0)
    assert memo.get("k", 1) == b"old"  # meanwhile, the others get the last answer
    assert memo.get("k", 2) is None  # never one of another version
    release.set()
    assert await computing == b"new"
    assert memo.get("k", 1) == b"new"  # fresh: within its age right after it was stored


async def test_the_aged_answer_is_given_only_briefly_and_never_after_a_stale_one() -> None:
    memo = ResponseMemo[bytes]("test", max_age=0.1)
    memo.put("k", 1, b"old")
    release = asyncio.Event()

    async def hung() -> tuple[bytes, bool]:
        await release.wait()
        return b"stale", False

    await asyncio.sleep(0.15)
    computing = asyncio.create_task(memo.fetch("k", 1, hung))
    await asyncio.sleep(0)
    assert memo.get("k", 1) == b"old"  # within the grace
    await asyncio.sleep(0.3)
    assert memo.get("k", 1) is None  # a hung computation does not extend it past the grace
    release.set()
    assert await computing == b"stale"
    memo.put("k", 1, b"old")

    async def stale() -> tuple[bytes, bool]:
        return b"stale", False

    await asyncio.sleep(0.15)
    assert await memo.fetch("k", 1, stale) == b"stale"
    assert memo.get("k", 1) is None  # the last good answer does not stand for a stale one


async def test_answers_age_out() -> None:
    memo = ResponseMemo[bytes]("test", max_age=0.0)
    memo.put("k", 1, b"x")
    await asyncio.sleep(0.01)
    assert memo.get("k", 1) is None


async def test_memoized_availability_is_sent_gzipped_to_clients_that_accept_it(
    settings: Settings, db_url: str
) -> None:
    key = await create_key(db_url, 1, "read")
    start = date.today() + timedelta(days=7)
    path = (
        f"/api/booking-engine/availability/1?start_date={start}"
        f"&end_date={start + timedelta(days=30)}"
    )
    async with (
        running_api(settings, MemoryCache(), run_bridge=True) as api,
        api.client(key) as http,
    ):
        # Answers are kept (and gzipped) once capture is connected and the bridge has
        # published its versions through Redis: compare answers from once one is kept.
        for _ in range(200):  # an upper bound on waiting for both, not a timing assertion
            hits = memo_hits()
            plain = await http.get(path, headers={"Accept-Encoding": "identity"})
            if plain.status_code != 200 or memo_hits() == hits + 1:
                break
            await asyncio.sleep(0.05)
        zipped = await http.get(path, headers={"Accept-Encoding": "gzip"})
        refused = await http.get(path, headers={"Accept-Encoding": "br, gzip;q=0"})
        async with http.stream("GET", path, headers={"Accept-Encoding": "gzip"}) as stream:
            wire = b"".join([chunk async for chunk in stream.aiter_raw()])
    assert plain.status_code == zipped.status_code == refused.status_code == 200
    assert "content-encoding" not in plain.headers and "content-encoding" not in refused.headers
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["vary"] == plain.headers["vary"] == "Accept-Encoding"
    assert zipped.json() == plain.json() == refused.json()  # httpx inflates it
    assert len(plain.json()["room_types"]) == 5
    # On the wire: compressed bytes, a fraction of the answer, inflating to exactly it.
    assert len(wire) * 4 < len(plain.content)
    assert gzip.decompress(wire) == plain.content


async def test_a_change_applied_by_the_bridge_retires_the_memoized_answer(
    settings: Settings, db_url: str
) -> None:
    key = await create_key(db_url, 1, "read")
    type_id, _ = await room_type_with_rooms(db_url, 1)
    async with (
        running_api(settings, MemoryCache(), run_bridge=True) as api,
        api.client(key) as http,
    ):
        bridge = api.bridge
        assert bridge is not None
        # Only a new version may retire the answer here, not its age.
        api.ctx.availability_memo = ResponseMemo("availability", max_age=3600)

        def night_of(reply: httpx.Response) -> int:
            kinds = {t["room_type_id"]: t["nights"] for t in reply.json()["room_types"]}
            return int(kinds[type_id][0]["available"])

        assert night_of(await answered_from_memo(http)) > 1
        await fill_all_but(db_url, 1, type_id, [START], keep=1)
        for _ in range(300):  # an upper bound on waiting for capture, not a timing assertion
            if night_of(await http.get(PATH)) == 1:
                break
            await asyncio.sleep(0.1)
        assert night_of(await http.get(PATH)) == 1


async def test_answers_from_before_a_capture_reconnection_are_not_reused(
    settings: Settings, db_url: str
) -> None:
    key = await create_key(db_url, 1, "read")
    async with (
        running_api(settings, MemoryCache(), run_bridge=True) as api,
        api.client(key) as http,
    ):
        bridge = api.bridge
        assert bridge is not None
        api.ctx.availability_memo = ResponseMemo("availability", max_age=3600)
        await answered_from_memo(http)
        opened = bridge.connections
        async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = 'pms-bridge'"
            )
        for _ in range(300):  # an upper bound on waiting for the reconnection, not a timing
            if bridge.connections > opened and bridge.connected:
                break
            await asyncio.sleep(0.1)
        assert bridge.connections > opened and bridge.connected
        hits = memo_hits()
        assert (await http.get(PATH)).status_code == 200
        assert memo_hits() == hits  # the memoized answer predates the reconnection
        await answered_from_memo(http)


def path_of(hotel_id: int) -> str:
    return PATH.replace("/availability/1?", f"/availability/{hotel_id}?")


async def hit(http: httpx.AsyncClient, path: str) -> bool:
    """Whether this answer came from the memo."""
    hits = memo_hits()
    assert (await http.get(path)).status_code == 200
    return memo_hits() == hits + 1


async def memoized(http: httpx.AsyncClient, path: str) -> None:
    for _ in range(100):  # an upper bound on waiting for capture, not a timing assertion
        if await hit(http, path):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{path} never came from the memo")


async def test_a_change_in_one_hotel_retires_its_answers_and_not_another_hotels(
    settings: Settings, db_url: str
) -> None:
    keys = {hotel: await create_key(db_url, hotel, "read") for hotel in (1, 2)}
    type_id, _ = await room_type_with_rooms(db_url, 1)
    async with (
        running_api(settings, MemoryCache(), run_bridge=True) as api,
        api.client(keys[1]) as one,
        api.client(keys[2]) as two,
    ):
        # Only a new version may retire an answer here, not its age.
        api.ctx.availability_memo = ResponseMemo("availability", max_age=3600)
        await memoized(one, path_of(1))
        await memoized(two, path_of(2))

        await fill_all_but(db_url, 1, type_id, [START], keep=1)
        for _ in range(300):  # an upper bound on waiting for capture, not a timing assertion
            nights = {
                t["room_type_id"]: t["nights"] for t in (await one.get(PATH)).json()["room_types"]
            }
            if nights[type_id][0]["available"] == 1:
                break
            await asyncio.sleep(0.1)
        assert nights[type_id][0]["available"] == 1
        # Hotel 2's answer, kept before hotel 1 changed, still stands.
        assert await hit(two, path_of(2))


async def test_a_write_in_another_process_retires_only_its_hotel_here(
    settings: Settings, db_url: str
) -> None:
    keys = {hotel: await create_key(db_url, hotel, "read") for hotel in (1, 2)}
    async with (
        running_api(settings, MemoryCache(), run_bridge=True) as api,
        api.client(keys[1]) as one,
        api.client(keys[2]) as two,
    ):
        api.ctx.availability_memo = ResponseMemo("availability", max_age=3600)
        await memoized(one, path_of(1))
        await memoized(two, path_of(2))
        # As `pms-bridge cache refresh-availability --hotel 1` or a replica's admin route does.
        await publish(settings.redis_url, settings.redis_prefix, [1])
        for _ in range(300):  # an upper bound on waiting for Redis, not a timing assertion
            if not await hit(one, path_of(1)):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("hotel 1's answer was never retired")
        assert await hit(two, path_of(2))
        assert await hit(one, path_of(1))  # kept again under its new version


async def test_a_cache_refresh_on_one_replica_retires_the_hotel_on_the_other(
    settings: Settings, db_url: str
) -> None:
    """Two API-only processes sharing Redis, and a bridge's versions (capture live) in it."""
    admin = await create_key(db_url, 1, "admin")
    keys = {hotel: await create_key(db_url, hotel, "read") for hotel in (1, 2)}
    moves, stop = Moves(), asyncio.Event()
    moves.capture(True)
    announcer = asyncio.create_task(
        announce(settings.redis_url or "", settings.redis_prefix, moves, stop)
    )
    try:
        async with (
            running_api(settings) as first,
            running_api(settings) as other,
            first.client(admin) as operator,
            other.client(keys[1]) as one,
            other.client(keys[2]) as two,
        ):
            other.ctx.availability_memo = ResponseMemo("availability", max_age=3600)
            await memoized(one, path_of(1))
            await memoized(two, path_of(2))
            refreshed = await operator.post(
                "/api/booking-engine/cache/refresh-availability",
                json={
                    "hotel_id": 1,
                    "start_date": str(START),
                    "end_date": str(START + timedelta(3)),
                },
            )
            assert refreshed.status_code == 200, refreshed.text
            for _ in range(300):  # an upper bound on waiting for Redis, not a timing assertion
                if not await hit(one, path_of(1)):
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("hotel 1's answer was never retired on the other replica")
            assert await hit(two, path_of(2))
    finally:
        stop.set()
        await announcer
