"""The availability memo: one computation for concurrent callers, nothing kept across versions."""

from __future__ import annotations

import asyncio

import pytest

from api.memo import ResponseMemo


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


async def test_answers_age_out() -> None:
    memo = ResponseMemo(max_age=0.0)
    memo.put("k", 1, b"x")
    await asyncio.sleep(0.01)
    assert memo.get("k", 1) is None
