"""kill -9 of a streaming bridge process, then a restart: every change applied exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from typing import Any

import psycopg

from bridge.cache.redis import RedisCache
from bridge.config import Settings
from tests.support.pipeline import cached, truth
from tests.support.writers import Writers


def start_bridge(settings: Settings) -> subprocess.Popen[bytes]:
    assert settings.database_url is not None and settings.redis_url is not None
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "BRIDGE_REDIS_PREFIX": settings.redis_prefix,
        "BRIDGE_CAPTURE": "logical",
        "BRIDGE_SLOT": settings.slot_name,
        "BRIDGE_PUBLICATION": settings.publication_name,
        "BRIDGE_POLL_INTERVAL": "0.1",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", "run", "--no-api"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def fetch(url: str, statement: str, *params: Any) -> Any:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute(statement.encode(), params)
        row = await cur.fetchone()
        return row[0] if row else None


async def wait_for(check: Any, process: subprocess.Popen[bytes], what: str) -> None:
    """Poll until `check()` holds; the deadline is an upper bound, not a measurement."""
    deadline = time.monotonic() + 120
    while not await check():
        if process.poll() is not None:
            raise AssertionError(f"bridge exited: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def test_kill_9_mid_stream_and_restart_applies_every_change_once(
    settings: Settings,
) -> None:
    url = settings.database_url
    assert url is not None
    slot_active = "SELECT active FROM pg_replication_slots WHERE slot_name = %s"
    applied = "SELECT changes_applied FROM pms_bridge.checkpoint WHERE consumer = 'logical:default'"
    writers = Writers(url, workers=3)
    first = start_bridge(settings)
    second: subprocess.Popen[bytes] | None = None
    try:

        async def streaming() -> bool:
            return bool(await fetch(url, slot_active, settings.slot_name))

        await wait_for(streaming, first, "the first bridge to stream")
        writing = asyncio.create_task(writers.run(target=4000))

        async def some_applied() -> bool:
            return (await fetch(url, applied) or 0) >= 800

        await wait_for(some_applied, first, "the first changes to be applied")
        first.send_signal(signal.SIGKILL)
        first.wait()
        killed_at = await fetch(url, applied)
        await writing
        assert killed_at < writers.changes  # the kill came mid-stream

        second = start_bridge(settings)

        async def caught_up() -> bool:
            return (await fetch(url, applied) or 0) >= writers.changes

        await wait_for(caught_up, second, "the restarted bridge to catch up")
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=60) == 0

        # Applied exactly once: a replayed change would be counted again.
        assert await fetch(url, applied) == writers.changes
        cache = RedisCache(settings.redis_url or "", settings.redis_prefix)
        try:
            assert await cached(cache) == await truth(url, settings)
        finally:
            await cache.clear()
            await cache.close()
        async with await psycopg.AsyncConnection.connect(url) as conn:
            cur = await conn.execute("SELECT hotel_id, booking_id FROM booking_sync_status")
            assert {(h, b) for h, b in await cur.fetchall()} == writers.touched
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
