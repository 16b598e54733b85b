"""API replicas as users scale out: one bridge and two `run --api-only` processes sharing Redis,
each memoizing answers that the bridge's version (published through Redis) retires; and
`run --workers N` starting N API processes on one port."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta

import httpx
import psutil
import redis

from bridge.embedded import free_port
from tests.support.api_server import create_key, fill_all_but, room_type_with_rooms
from tests.support.processes import metric, wait_ready

START = date.today() + timedelta(days=9)
PATH = f"/api/booking-engine/availability/1?start_date={START}&end_date={START + timedelta(30)}"
# Generous: the product's target for a change to reach the API is 5 seconds.
REACH_LIMIT_S = 60.0


def environment(db_url: str, redis_url: str, prefix: str, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "BRIDGE_REDIS_PREFIX": prefix,
        "API_PORT": str(port),
        "BRIDGE_JWT_SECRET": "test-secret-" + uuid.uuid4().hex,
        "BRIDGE_POLL_INTERVAL": "0.1",
    }


@contextmanager
def running(*commands: tuple[list[str], dict[str, str]]) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs = [subprocess.Popen([sys.executable, "-m", "bridge.cli", *a], env=e) for a, e in commands]
    try:
        yield procs
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(timeout=30) for proc in procs]
        assert codes == [0] * len(procs)


def memo_hits(base: str) -> float:
    text = httpx.get(f"{base}/metrics", timeout=10).text
    return metric(text, "pms_bridge_api_memo_answers_total", memo="availability", outcome="hit")


def available(base: str, key: str, type_id: int) -> int:
    reply = httpx.get(f"{base}{PATH}", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert reply.status_code == 200, reply.text
    kinds = {t["room_type_id"]: t["nights"] for t in reply.json()["room_types"]}
    return int(kinds[type_id][0]["available"])


def test_a_change_reaches_both_replicas_and_neither_answers_from_before_it(
    db_url: str, redis_url: str, redis_prefix: str
) -> None:
    key = asyncio.run(create_key(db_url, 1, "read"))
    type_id, _ = asyncio.run(room_type_with_rooms(db_url, 1))
    ports = [free_port(), free_port()]
    bridge = environment(db_url, redis_url, redis_prefix, free_port())
    replicas = [environment(db_url, redis_url, redis_prefix, port) for port in ports]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    with running(
        (["run", "--no-api"], bridge), *((["run", "--api-only"], env) for env in replicas)
    ) as procs:
        for base, proc in zip(bases, procs[1:], strict=True):
            wait_ready(base, proc)
        # Each replica memoizes once the bridge's version has reached it.
        for base in bases:
            deadline = time.monotonic() + REACH_LIMIT_S
            while time.monotonic() < deadline:
                hits = memo_hits(base)
                before = available(base, key, type_id)
                available(base, key, type_id)
                if memo_hits(base) > hits:
                    break
                time.sleep(0.1)
            assert memo_hits(base) > hits, f"{base} never answered from its memo"
            assert before > 1

        reaches_both(db_url, key, type_id, bases, keep=1)

        # Their subscriptions killed, the replicas subscribe again, and a change still reaches
        # both, memoized again after it.
        assert redis_cli(redis_url, "CLIENT", "KILL", "TYPE", "pubsub") == "2"
        channel = f"{redis_prefix}:memo:moved"
        deadline = time.monotonic() + REACH_LIMIT_S
        while time.monotonic() < deadline and subscribers(redis_url, channel) != 2:
            time.sleep(0.1)
        assert subscribers(redis_url, channel) == 2
        hits = [memo_hits(base) for base in bases]
        reaches_both(db_url, key, type_id, bases, keep=2)
        assert all(memo_hits(base) > before for base, before in zip(bases, hits, strict=True))


def reaches_both(db_url: str, key: str, type_id: int, bases: list[str], keep: int) -> None:
    """A change of the first night reaches every replica, and then stays: no replica answers
    from a memo older than it."""
    asyncio.run(fill_all_but(db_url, 1, type_id, [START], keep=keep))
    for base in bases:
        deadline = time.monotonic() + REACH_LIMIT_S
        while time.monotonic() < deadline and available(base, key, type_id) != keep:
            time.sleep(0.05)
    seen = [available(base, key, type_id) for _ in range(20) for base in bases]
    assert seen == [keep] * len(seen)
    assert all(memo_hits(base) > 0 for base in bases)


def redis_cli(redis_url: str, *command: str) -> str:
    with redis.Redis.from_url(redis_url) as client:
        return str(client.execute_command(*command))


def subscribers(redis_url: str, channel: str) -> int:
    with redis.Redis.from_url(redis_url) as client:
        return int(dict(client.pubsub_numsub(channel)).get(channel.encode(), 0))


def listening(process: psutil.Process) -> list[int]:
    return [c.laddr.port for c in process.net_connections("tcp") if c.status == "LISTEN"]


def test_workers_run_that_many_api_processes_on_one_port(
    db_url: str, redis_url: str, redis_prefix: str
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = environment(db_url, redis_url, redis_prefix, port)
    with running((["run", "--workers", "3"], env)) as (proc,):
        wait_ready(base, proc)
        workers = psutil.Process(proc.pid).children()
        assert len(workers) == 2
        for worker in workers:
            deadline = time.monotonic() + REACH_LIMIT_S
            while time.monotonic() < deadline and not listening(worker):
                time.sleep(0.2)
            assert listening(worker) == [port]
        # New connections, spread over the processes, are all answered.
        answers = [httpx.get(f"{base}/health/live", timeout=10).status_code for _ in range(30)]
        assert answers == [200] * 30


def test_workers_without_redis_stop_start_up_with_what_to_set(db_url: str) -> None:
    env = environment(db_url, "", "p", free_port())
    env.pop("REDIS_URL")
    done = subprocess.run(
        [sys.executable, "-m", "bridge.cli", "run", "--workers", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "--workers N needs REDIS_URL" in done.stderr.strip().splitlines()[-1]
