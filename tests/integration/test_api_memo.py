"""The availability memo: one computation for concurrent callers, nothing kept across versions,
and its answers sent gzipped to clients that accept it."""

from __future__ import annotations

import asyncio
import gzip
from datetime import date, timedelta

import pytest

from api.memo import ResponseMemo
from bridge.cache.memory import MemoryCache
from bridge.config import Settings
from tests.integration.api_server import create_key, running_api


async def test_concurrent_callers_share_one_computation() -> None:
    memo = ResponseMemo()
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
    memo = ResponseMemo()
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
    memo = ResponseMemo(max_age=0.5)
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
    memo = ResponseMemo(max_age=0.1)
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
    memo = ResponseMemo(max_age=0.0)
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
        # An answer made before capture is connected says `stale`, and the next ones do not:
        # compare answers from once it is.
        for _ in range(200):  # an upper bound on waiting for capture, not a timing assertion
            plain = await http.get(path, headers={"Accept-Encoding": "identity"})
            if plain.status_code != 200 or not plain.json()["stale"]:
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
