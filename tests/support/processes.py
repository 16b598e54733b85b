"""`pms-bridge` as a process of its own: started, waited on until ready, read through its
metrics, stopped; and its CLI run once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bridge.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def spawn_bridge(
    settings: Settings, log: Path, extra_env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """`pms-bridge run --no-api` in a process of its own, its cache in Redis."""
    assert settings.database_url is not None and settings.redis_url is not None
    env = {
        **os.environ,
        "REDIS_URL": settings.redis_url,
        "BRIDGE_REDIS_PREFIX": settings.redis_prefix,
        "BRIDGE_CAPTURE": settings.capture,
        "BRIDGE_POLL_INTERVAL": str(settings.poll_interval),
        "BRIDGE_BATCH_SIZE": str(settings.batch_size),
        "BRIDGE_SLOT": settings.slot_name,
        "BRIDGE_PUBLICATION": settings.publication_name,
        "BRIDGE_WEBHOOK_ALLOW_LOOPBACK_HTTP": str(settings.webhook_allow_loopback_http).lower(),
        **(extra_env or {}),
    }
    env.pop("DATABASE_URL", None)
    command = [sys.executable, "-m", "bridge.cli", "--database-url", settings.database_url]
    with log.open("ab") as out:
        return subprocess.Popen(
            [*command, "run", "--no-api"], env=env, cwd=ROOT, stdout=out, stderr=out
        )


async def applied_count(url: str) -> int:
    """Changes the checkpoint says were applied, summed over consumers."""
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute(
            "SELECT coalesce(sum(changes_applied), 0) FROM pms_bridge.checkpoint"
        )
        row = await cur.fetchone()
        return int(row[0]) if row else 0


async def wait_for(condition: Callable[[], Awaitable[bool]], what: str, limit: float = 90) -> None:
    """Wait until `condition()` holds; the limit only stops a broken run from hanging."""
    deadline = time.monotonic() + limit
    while not await condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.05)


async def stop_process(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    return await asyncio.to_thread(proc.wait, 60)


def metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def wait_ready(base: str, proc: subprocess.Popen[Any], limit_s: float = 60.0) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"pms-bridge run exited with {proc.returncode}"
        try:
            if httpx.get(f"{base}/health/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("pms-bridge run never became ready")


@contextmanager
def running(
    args: list[str], env: dict[str, str] | None, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def until(what: str, check: Any, limit_s: float = 120.0) -> Any:
    """Polls `check` (an async callable) until it returns something truthy; the limit only
    stops a hung test."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.5)
    raise AssertionError(f"never saw {what}")


def cli(
    settings: Settings, *args: str, with_cache: bool = False
) -> subprocess.CompletedProcess[str]:
    """`pms-bridge ARGS` on the test's database; `with_cache` gives it the test's Redis."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BRIDGE_", "DATABASE_URL", "REDIS_URL"))
    }
    if with_cache:
        assert settings.redis_url is not None
        env.update(REDIS_URL=settings.redis_url, BRIDGE_REDIS_PREFIX=settings.redis_prefix)
    assert settings.database_url is not None
    return subprocess.run(
        [sys.executable, "-m", "bridge.cli", "--database-url", settings.database_url, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bridge.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
