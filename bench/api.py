"""API benchmark: the server as `pms-bridge run` starts it, driven by keep-alive HTTP connections.

Measures, in one run against one server process: cached 30-night availability at 100
concurrent connections and its throughput against /health/live (the trivial baseline) at the
same concurrency, GET /hotels/{id} latency, and POST /bookings latency at 50 concurrent.
The load generator is wrk (C, one thread; `apt-get install wrk`): a Python generator took
half of this two-core machine from the server it measured. The server runs in its own
process (`pms-bridge run`, bridge included) on an embedded PostgreSQL with the demo seed
(3 hotels x 100 rooms, a year of bookings).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psutil
import psycopg

from bench import _wrk, figure
from bridge.config import Settings
from bridge.demo.environment import prepare_pms
from bridge.embedded import PostgresCluster, RedisServer
from bridge.sql import query

ROUNDS = 3
PHASES = ("availability", "hotel", "bare", "bookings")
GENEROUS_LIMITS = "read=1000000:1000000,book=1000000:1000000,admin=1000:1000,auth=1000:1000"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("api")
    group.add_argument(
        "--api-seconds",
        type=float,
        default=30.0,
        help="length of each measured load phase (30; rounds of interleaved phases split it)",
    )
    group.add_argument(
        "--api-redis",
        action="store_true",
        help="run the server with REDIS_URL (shared cache and rate limits)",
    )
    group.add_argument(
        "--api-phases",
        default=",".join(PHASES),
        type=phase_list,
        help=f"comma-separated subset of {','.join(PHASES)} (all by default)",
    )


def phase_list(text: str) -> list[str]:
    chosen = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(PHASES))
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"phases are among {','.join(PHASES)}, not {text!r}")
    return chosen


class Client:
    """One keep-alive HTTP/1.1 connection; responses carry Content-Length (uvicorn's JSON)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        assert self.reader is not None and self.writer is not None
        self.writer.write(raw)
        status_line = await self.reader.readline()
        status = int(status_line.split(b" ", 2)[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        body = await self.reader.readexactly(length) if length else b""
        return status, body

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


def request(
    method: str,
    path: str,
    key: str | None = None,
    body: bytes | None = None,
    accept: str = "gzip",
) -> bytes:
    # gzip: what an HTTP client library sends by default (httpx, requests, browsers).
    lines = [f"{method} {path} HTTP/1.1", "Host: bench", f"Accept-Encoding: {accept}"]
    if key:
        lines.append(f"Authorization: Bearer {key}")
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


LIVE = request("GET", "/health/live")


class Phase:
    """One measured load phase: wrk's figures plus the server's CPU time while it ran."""

    def __init__(self) -> None:
        self.requests = 0
        self.seconds = 0.0
        self.cpu_seconds = 0.0
        self.pg_cpu_seconds = 0.0
        self.statuses: Counter[int] = Counter()
        self.p50s: list[float] = []
        self.p99s: list[float] = []
        self.means: list[float] = []
        self.rounds: list[float] = []
        self.checkpoints: list[int] = []
        self.wal_bytes = 0

    def add(self, result: _wrk.WrkResult, cpu_seconds: float, pg_cpu_seconds: float) -> None:
        self.requests += result.requests
        self.seconds += result.duration_us / 1e6
        self.cpu_seconds += cpu_seconds
        self.pg_cpu_seconds += pg_cpu_seconds
        self.statuses.update(result.status_counts)
        self.p50s.append(result.p50_us / 1000)
        self.p99s.append(result.p99_us / 1000)
        self.means.append(result.mean_us / 1000)
        self.rounds.append(result.throughput)

    @property
    def p50(self) -> float:
        return statistics.median(self.p50s) if self.p50s else 0.0

    @property
    def p99(self) -> float:
        """The worst round's p99: rounds are not merged, so no round can hide another."""
        return max(self.p99s, default=0.0)

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_seconds / self.requests * 1e6 if self.requests else 0.0

    @property
    def pg_cpu_us_per_request(self) -> float:
        return self.pg_cpu_seconds / self.requests * 1e6 if self.requests else 0.0

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def cpu_seconds(pid: int | None, with_children: bool = False) -> float:
    """CPU seconds a process (and, for the PostgreSQL postmaster, its backends) has used."""
    if pid is None:
        return 0.0
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children()] if with_children else [root]
    except psutil.Error:
        return 0.0
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total


async def load(
    port: int,
    connections: int,
    seconds: float,
    raws: list[bytes],
    pid: int,
    phase: Phase | None = None,
    postgres: int | None = None,
    database: str | None = None,
) -> Phase:
    """One closed-loop wrk run after a one-second warm-up; the CPU the server (and PostgreSQL,
    given its postmaster) used meanwhile is kept beside it. wrk opens its connections anew,
    and the first request of each of 100 connections opened at once waits for the server to
    take them all in (up to a few hundred ms here): phases are long enough (10 s) that these
    are well under 1 % of the requests, so the p99 is the steady state's. Given the
    database, the checkpoints begun and the WAL written during the run are kept too."""
    phase = phase or Phase()
    await asyncio.to_thread(_wrk.run, port, connections, 1.0, raws)
    before = await database_counters(database)
    cpu, pg = cpu_seconds(pid), cpu_seconds(postgres, with_children=True)
    result = await asyncio.to_thread(_wrk.run, port, connections, seconds, raws)
    phase.add(result, cpu_seconds(pid) - cpu, cpu_seconds(postgres, with_children=True) - pg)
    after = await database_counters(database)
    phase.checkpoints.append(after[0] - before[0])
    phase.wal_bytes += after[1] - before[1]
    return phase


async def database_counters(url: str | None) -> tuple[int, int]:
    """Checkpoints begun and WAL bytes written so far; zeros without a database."""
    if url is None:
        return 0, 0
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        row = await (await conn.execute(query("api_bench_database_counters"))).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


async def bare_asgi(seconds: float, phase: Phase) -> Phase:
    """The same load on a framework-less ASGI app under the same uvicorn settings: what this
    machine's HTTP stack allows at 100 connections before any application code runs."""
    port = free_port()
    # Runs beside this loop until the measurement ends; nothing awaits it.
    proc = subprocess.Popen([sys.executable, "-m", "bench._bare", str(port)])  # noqa: ASYNC220
    try:
        await wait_live(port, proc)
        return await load(port, 100, seconds, [LIVE], proc.pid, phase)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli() -> list[str]:
    script = Path(sys.executable).with_name("pms-bridge")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bridge.cli"]


async def wait_live(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60.0
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"pms-bridge run exited with {proc.returncode}")
        try:
            client = Client("127.0.0.1", port)
            await client.open()
            status, _ = await client.send(request("GET", "/health/live"))
            await client.close()
            if status == 200:
                return
        except OSError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError("the API did not come up")


def make_key(env: dict[str, str], scope: str) -> str:
    out = subprocess.run(
        [*cli(), "keys", "create", "--hotel", "1", "--scope", scope],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def bookings(key: str, room_types: list[int], seed: int, count: int) -> list[bytes]:
    """Distinct booking requests (random room type, 1-3 nights in the next year)."""
    rng = random.Random(seed)
    first = date.today() + timedelta(days=40)
    raws = []
    for i in range(count):
        check_in = first + timedelta(days=rng.randrange(0, 300))
        body = {
            "hotel_id": 1,
            "room_type_id": rng.choice(room_types),
            "check_in": check_in.isoformat(),
            "check_out": (check_in + timedelta(days=rng.randint(1, 3))).isoformat(),
            "guests": 1,
            "guest": {"name": f"Bench Guest {i}"},
        }
        raws.append(request("POST", "/api/booking-engine/bookings", key, json.dumps(body).encode()))
    return raws


async def run(args: argparse.Namespace) -> dict[str, Any]:
    if not _wrk.available():
        raise RuntimeError("bench api needs wrk on PATH: apt-get install wrk")
    quick = bool(getattr(args, "quick", False))
    seconds = 3.0 if quick else args.api_seconds
    root = Path(tempfile.mkdtemp(prefix="pms-bridge-bench-api-"))
    cluster = PostgresCluster(root / "pgdata")
    redis = RedisServer(root / "redis") if args.api_redis else None
    await asyncio.to_thread(cluster.start)
    if redis is not None:
        await asyncio.to_thread(redis.start)
    proc: subprocess.Popen[bytes] | None = None
    try:
        with psycopg.connect(cluster.url(), autocommit=True) as admin:
            admin.execute(query("create_database_pms"))
        url = cluster.url("pms")
        await prepare_pms(url, Settings(database_url=url), hotels=3, rooms_per_hotel=100)
        with psycopg.connect(url) as conn:
            types = [r[0] for r in conn.execute(query("api_bench_room_types")).fetchall()]
        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "API_PORT": str(port),
            "BRIDGE_JWT_SECRET": "bench-" + "s" * 40,
            "BRIDGE_RATE_LIMITS": GENEROUS_LIMITS,
        }
        env.pop("REDIS_URL", None)
        if redis is not None:
            env["REDIS_URL"] = redis.url
        reader = make_key(env, "read")
        booker = make_key(env, "book")
        # The server runs beside this loop for the whole benchmark; nothing awaits it.
        proc = subprocess.Popen([*cli(), "run"], env=env)  # noqa: ASYNC220
        await wait_live(port, proc)

        phases = args.api_phases
        live, avail = Phase(), Phase()
        hotel, hotel100, bare, book = Phase(), Phase(), Phase(), Phase()
        if "availability" in phases:
            start = date.today() + timedelta(days=7)
            avail_path = (
                f"/api/booking-engine/availability/1?start_date={start.isoformat()}"
                f"&end_date={(start + timedelta(days=30)).isoformat()}"
            )
            avail_req = request("GET", avail_path, reader)
            probe = Client("127.0.0.1", port)
            await probe.open()
            # Fills the cache (read-through); asked for plain JSON, to be read here.
            status, body = await probe.send(request("GET", avail_path, reader, accept="identity"))
            nights = sum(len(t["nights"]) for t in json.loads(body)["room_types"])
            await probe.close()
            assert status == 200 and nights == 150, (status, nights)
            # Interleaved rounds, so a neighbour's load on this shared machine hits both alike.
            for _ in range(ROUNDS):
                await load(port, 100, seconds / ROUNDS, [LIVE], proc.pid, live, database=url)
                await load(port, 100, seconds / ROUNDS, [avail_req], proc.pid, avail, database=url)
        if "hotel" in phases:
            hotel_req = [request("GET", "/api/booking-engine/hotels/1", reader)]
            await load(port, 10, seconds, hotel_req, proc.pid, hotel, database=url)
            await load(port, 100, seconds, hotel_req, proc.pid, hotel100, database=url)
        if "bare" in phases:
            await bare_asgi(seconds / ROUNDS, bare)
        if "bookings" in phases:
            await load(
                # A third as long: the year of rooms fills up, and a full year measures 409s.
                port,
                50,
                seconds / ROUNDS,
                bookings(booker, types, 7, 20_000),
                proc.pid,
                book,
                postgres=cluster.pid(),
                database=url,
            )
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if redis is not None:
            redis.stop()
        await asyncio.to_thread(cluster.destroy)
        shutil.rmtree(root, ignore_errors=True)

    ratio = avail.throughput / live.throughput if live.throughput else 0.0
    avail_p99, hotel_p99, book_p99 = avail.p99, hotel.p99, book.p99
    ok_statuses = {200, 201, 409}
    by_phase = {
        "availability": [
            figure("live_throughput_c100", live.throughput, "req/s", note=f"p99 {live.p99:.1f} ms"),
            figure(
                "availability_30n_throughput_c100",
                avail.throughput,
                "req/s",
                baseline=live.throughput,
            ),
            figure("availability_vs_live_ratio", ratio, "x", goal=">= 0.6", met=ratio >= 0.6),
            figure("live_server_cpu_per_request", live.cpu_us_per_request, "us"),
            figure(
                "availability_server_cpu_per_request",
                avail.cpu_us_per_request,
                "us",
                baseline=live.cpu_us_per_request,
                note="live/availability CPU per request: the throughput ratio on an idle server",
            ),
            figure("availability_30n_p50_c100", avail.p50, "ms"),
            figure("availability_30n_p99_c100", avail_p99, "ms", goal="< 10", met=avail_p99 < 10),
        ],
        "hotel": [
            figure("hotel_p50_c10", hotel.p50, "ms"),
            figure("hotel_p99_c10", hotel_p99, "ms", goal="< 5", met=hotel_p99 < 5),
            figure("hotel_p99_c100", hotel100.p99, "ms"),
        ],
        "bare": [
            figure(
                "bare_asgi_throughput_c100",
                bare.throughput,
                "req/s",
                note="uvicorn + httptools + uvloop, no application: the machine's floor",
            ),
            figure("bare_asgi_p99_c100", bare.p99, "ms", note=f"p50 {bare.p50:.1f} ms"),
        ],
        "bookings": [
            figure("booking_throughput_c50", book.throughput, "req/s"),
            figure("booking_p50_c50", book.p50, "ms"),
            figure(
                "booking_server_cpu_per_request",
                book.cpu_us_per_request,
                "us",
                note="API and bridge, one process",
            ),
            figure("booking_postgres_cpu_per_request", book.pg_cpu_us_per_request, "us"),
            figure("booking_p99_c50", book_p99, "ms", goal="< 100", met=book_p99 < 100),
        ],
    }
    figures = [row for name in PHASES if name in args.api_phases for row in by_phase[name]]
    if {"availability", "bare"} <= set(args.api_phases):
        figures.append(
            figure(
                "availability_vs_bare_ratio",
                avail.throughput / bare.throughput if bare.throughput else 0.0,
                "x",
                note="memoized availability is answered before Litestar; live goes through it",
            )
        )
    measured = {
        "live": live,
        "availability": avail,
        "hotel_c10": hotel,
        "hotel_c100": hotel100,
        "bookings": book,
        "bare_asgi": bare,
    }
    phases = {name: p for name, p in measured.items() if p.requests}
    unexpected = {
        name: dict(p.statuses) for name, p in phases.items() if set(p.statuses) - ok_statuses
    }
    return {
        "figures": figures,
        "details": {
            "phases": args.api_phases,
            "round_ratios": [
                round(a / b, 3) for a, b in zip(avail.rounds, live.rounds, strict=True) if b
            ],
            "server": "pms-bridge run (bridge + API, one process, uvicorn + httptools + uvloop,"
            " head and body of a response in one write)",
            "load_generator": "wrk -t1 (closed loop, keep-alive)",
            "cache": "redis" if redis is not None else "in-process",
            "seconds_per_phase": seconds,
            "statuses": {name: dict(p.statuses) for name, p in phases.items()},
            "requests": {name: p.requests for name, p in phases.items()},
            "booking_201_share": round(book.statuses[201] / max(1, book.requests), 3),
            "mean_ms": {name: round(statistics.fmean(p.means), 2) for name, p in phases.items()},
            "p99_ms_per_round": {name: p.p99s for name, p in phases.items()},
            "checkpoints_begun_per_round": {name: p.checkpoints for name, p in phases.items()},
            "wal_mb": {name: round(p.wal_bytes / 2**20) for name, p in phases.items()},
            "unexpected_statuses": unexpected,
        },
    }
