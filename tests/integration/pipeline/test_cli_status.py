"""`pms-bridge status` reports what is waiting, what was applied and what was parked."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg

from bridge.cache.memory import MemoryCache
from bridge.config import Settings
from tests.support.pipeline import run_once


def status(db_url: str) -> dict[str, str]:
    out = subprocess.run(
        [sys.executable, "-m", "bridge.cli", "--database-url", db_url, "status"],
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if k != "REDIS_URL"},
    ).stdout
    return {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in out.splitlines())}


async def test_status_shows_waiting_then_applied(settings: Settings) -> None:
    url = settings.database_url
    assert url is not None
    async with await psycopg.AsyncConnection.connect(url) as conn:
        await conn.execute("UPDATE rooms SET for_sale = NOT for_sale WHERE hotel_id = 2")
    before = status(url)
    assert int(before["waiting"]) > 0
    assert before["changes applied"] == "0"

    bridge = await run_once(settings, MemoryCache())

    after = status(url)
    assert after["waiting"] == "0"
    assert int(after["changes applied"]) == bridge.applied > 0
    assert after["parked changes"] == "0"
    assert after["capture"] == "trigger"
