"""API benchmark: the servers as `pms-bridge run` starts them, driven by keep-alive HTTP
connections, each figure a ratio to a baseline measured in the same run.

Two API processes share one Redis: `run` (bridge and API) and a `run --api-only` replica. At
100 connections, memoized 30-night availability (authenticated, rate-limited, audited) on
each is set against a framework-less ASGI app on the same server settings (bench/_bare.py,
served by api/server.py as `run` is):
throughput and p99, rounds interleaved so a neighbour's load hits all alike. Bookings per
second at 50 connections are set against the same booking function (api.bookings.create,
one SQL statement, through a pool made as the API's booking pool) called by 50 tasks
directly, without HTTP, on bodies drawn alike, in interleaved rounds. The seed's
absolute targets (at 100 concurrent calls: availability < 200 ms, booking < 500 ms, hotel
< 100 ms, as p99) are reported met or not. The load generator is wrk (C, one thread;
`apt-get install wrk`): a Python generator took half of a two-core machine from the server
it measured. The database is an embedded PostgreSQL with the demo seed (3 hotels x 100
rooms, a year of bookings).
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

import msgspec
import psutil
import psycopg
from psycopg.rows import scalar_row

from api.booking_errors import BookingError
from api.bookings import Writer, create
from api.errors import refused_answer
from api.schemas import BookingCreate
from api.server import BOOKING_CONNECTIONS, new_pool
from bench import _wrk, figure
from bridge.config import Settings
from bridge.db import fetch_one, fetch_value
from bridge.demo.environment import prepare_pms
from bridge.embedded import PostgresCluster, RedisServer
from bridge.sql import query

ROUNDS = 3
# Booking bodies per turn: more than a turn books.
BODIES = 5_000
PHASES = ("availability", "replica", "hotel", "bookings")
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
        self.xids = 0

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
    phase.checkpoints.append(after.checkpoints - before.checkpoints)
    phase.wal_bytes += after.wal_bytes - before.wal_bytes
    phase.xids += after.next_xid - before.next_xid
    return phase


class DatabaseCounters(msgspec.Struct, frozen=True):
    checkpoints: int
    wal_bytes: int
    next_xid: int = 0


async def database_counters(url: str | None) -> DatabaseCounters:
    """Checkpoints begun, WAL bytes written and the next transaction id (see next_xid) so far;
    zeros without a database."""
    if url is None:
        return DatabaseCounters(0, 0)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        found = await fetch_one(conn, DatabaseCounters, query("api_bench_database_counters"))
    assert found is not None
    return msgspec.structs.replace(found, next_xid=await next_xid(url))


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


def booking_bodies(room_types: list[int], seed: int, count: int) -> list[bytes]:
    """Distinct booking bodies (random room type, 1-3 nights in the next year)."""
    rng = random.Random(seed)
    first = date.today() + timedelta(days=40)
    bodies = []
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
        bodies.append(json.dumps(body).encode())
    return bodies


def booking_requests(key: str, bodies: list[bytes]) -> list[bytes]:
    return [request("POST", "/api/booking-engine/bookings", key, body) for body in bodies]


class Direct:
    """Booking calls made without HTTP, summed over rounds."""

    def __init__(self) -> None:
        self.calls = 0
        self.seconds = 0.0
        self.statuses: Counter[int] = Counter()
        self.xids = 0

    @property
    def throughput(self) -> float:
        return self.calls / self.seconds if self.seconds else 0.0


async def direct_bookings(
    url: str, bodies: list[bytes], connections: int, seconds: float, direct: Direct
) -> None:
    """`connections` tasks calling the API's booking function directly, through a pool made
    as the API's booking pool (its size and settings: more connections only queue longer on
    the commits), for `seconds` after a one-second warm-up (as wrk's); the outcomes are
    counted by the status the API would answer."""
    settings = Settings(database_url=url)
    writer = Writer(settings.pms_user_id, settings.pms_agent, date.today())
    decoded = [msgspec.json.decode(body, type=BookingCreate) for body in bodies]
    pool = new_pool(settings, BOOKING_CONNECTIONS, generic_plans=True)
    await pool.open(wait=True)
    try:
        stop_at = 0.0
        served: Counter[int] = Counter()

        async def caller(offset: int) -> None:
            i = offset
            while time.monotonic() < stop_at:
                try:
                    answer = await create(pool, 0, decoded[i % len(decoded)], None, writer)
                    status = answer.status_code
                except BookingError as exc:
                    status = refused_answer(exc)[0]
                served[status] += 1
                i += connections

        stop_at = time.monotonic() + 1.0
        await asyncio.gather(*(caller(n) for n in range(connections)))
        served.clear()
        before = await next_xid(url)
        started = time.monotonic()
        stop_at = started + seconds
        await asyncio.gather(*(caller(n) for n in range(connections)))
        direct.seconds += time.monotonic() - started
        direct.xids += await next_xid(url) - before
        direct.calls += served.total()
        direct.statuses.update(served)
    finally:
        await pool.close()


async def next_xid(url: str) -> int:
    """The next transaction id: its growth counts the transactions that wrote (or their
    subtransactions), every process's, the bridge's too."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        found = await fetch_value(conn, query("api_bench_next_xid"))
    assert found is not None
    return int(found)


def spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    # Runs beside this loop for the whole benchmark; nothing awaits it.
    return subprocess.Popen(args, env=env)


def ratio(value: float, baseline: float) -> float:
    return value / baseline if baseline else 0.0


async def run(args: argparse.Namespace) -> dict[str, Any]:
    if not _wrk.available():
        raise RuntimeError("bench api needs wrk on PATH: apt-get install wrk")
    quick = bool(getattr(args, "quick", False))
    seconds = 3.0 if quick else args.api_seconds
    phases = args.api_phases
    root = Path(tempfile.mkdtemp(prefix="pms-bridge-bench-api-"))
    cluster = PostgresCluster(root / "pgdata")
    redis = RedisServer(root / "redis")
    await asyncio.to_thread(cluster.start)
    await asyncio.to_thread(redis.start)
    procs: list[subprocess.Popen[bytes]] = []
    bare, floor, avail, replica = Phase(), Phase(), Phase(), Phase()
    hotel100, book, book100 = Phase(), Phase(), Phase()
    direct = Direct()
    try:
        with psycopg.connect(cluster.url(), autocommit=True) as admin:
            admin.execute(query("create_database_pms"))
        url = cluster.url("pms")
        await prepare_pms(url, Settings(database_url=url), hotels=3, rooms_per_hotel=100)
        with psycopg.connect(url) as conn:
            cur = conn.cursor(row_factory=scalar_row)
            types = cur.execute(query("api_bench_room_types")).fetchall()
        port, replica_port, bare_port = free_port(), free_port(), free_port()
        floor_port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "REDIS_URL": redis.url,
            "API_PORT": str(port),
            "BRIDGE_JWT_SECRET": "bench-" + "s" * 40,
            "BRIDGE_RATE_LIMITS": GENEROUS_LIMITS,
        }
        reader = make_key(env, "read")
        booker = make_key(env, "book")
        server = spawn([*cli(), "run"], env)
        procs.append(server)
        await wait_live(port, server)
        replica_server = spawn(
            [*cli(), "run", "--api-only"], {**env, "API_PORT": str(replica_port)}
        )
        procs.append(replica_server)
        await wait_live(replica_port, replica_server)
        bare_server = spawn([sys.executable, "-m", "bench._bare", str(bare_port)], env)
        procs.append(bare_server)
        await wait_live(bare_port, bare_server)
        floor_server = spawn(
            [sys.executable, "-m", "bench._bare", str(floor_port), "litestar"], env
        )
        procs.append(floor_server)
        await wait_live(floor_port, floor_server)

        start = date.today() + timedelta(days=7)
        avail_path = (
            f"/api/booking-engine/availability/1?start_date={start.isoformat()}"
            f"&end_date={(start + timedelta(days=30)).isoformat()}"
        )
        avail_req = request("GET", avail_path, reader)
        for at in (port, replica_port):
            probe = Client("127.0.0.1", at)
            await probe.open()
            # Fills the cache (read-through); asked for plain JSON, to be read here.
            status, body = await probe.send(request("GET", avail_path, reader, accept="identity"))
            nights = sum(len(t["nights"]) for t in json.loads(body)["room_types"])
            await probe.close()
            assert status == 200 and nights == 150, (status, nights)
        if "availability" in phases or "replica" in phases:
            # Interleaved rounds, so a neighbour's load on this shared machine hits all alike.
            for _ in range(ROUNDS):
                await load(bare_port, 100, seconds / ROUNDS, [LIVE], bare_server.pid, bare)
                await load(floor_port, 100, seconds / ROUNDS, [LIVE], floor_server.pid, floor)
                await load(port, 100, seconds / ROUNDS, [avail_req], server.pid, avail)
                if "replica" in phases:
                    await load(
                        replica_port,
                        100,
                        seconds / ROUNDS,
                        [avail_req],
                        replica_server.pid,
                        replica,
                    )
        if "hotel" in phases:
            hotel_req = [request("GET", "/api/booking-engine/hotels/1", reader)]
            await load(port, 100, seconds / ROUNDS, hotel_req, server.pid, hotel100)
        if "bookings" in phases:
            # A third as long each (the API at 50, the direct calls, the API at 100): the
            # year of rooms fills up, and a full year measures 409s. The API and the direct
            # calls take turns, first one then the other leading, on bodies of their own
            # drawn alike, so that neither always meets the fuller hotel.
            part = seconds / ROUNDS
            for turn in range(ROUNDS):
                bodies = booking_bodies(types, 7 + turn, 2 * BODIES)
                api_turn = load(
                    port,
                    50,
                    part / ROUNDS,
                    booking_requests(booker, bodies[:BODIES]),
                    server.pid,
                    book,
                    postgres=cluster.pid(),
                    database=url,
                )
                direct_turn = direct_bookings(url, bodies[BODIES:], 50, part / ROUNDS, direct)
                for step in (api_turn, direct_turn) if turn % 2 == 0 else (direct_turn, api_turn):
                    await step
            await load(
                port,
                100,
                part,
                booking_requests(booker, booking_bodies(types, 100, 3 * BODIES)),
                server.pid,
                book100,
            )
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        redis.stop()
        await asyncio.to_thread(cluster.destroy)
        shutil.rmtree(root, ignore_errors=True)

    figures: list[dict[str, Any]] = []
    if avail.requests:
        vs_bare = ratio(avail.throughput, bare.throughput)
        p99_vs_bare = ratio(avail.p99, bare.p99)
        figures += [
            figure(
                "availability_vs_bare_asgi",
                vs_bare,
                "x",
                baseline=bare.throughput,
                goal=">= 0.5",
                met=vs_bare >= 0.5,
                note=f"memoized availability {avail.throughput:.0f} req/s at c=100",
            ),
            figure(
                "availability_p99_vs_bare_asgi_p99",
                p99_vs_bare,
                "x",
                baseline=bare.p99,
                goal="<= 2",
                met=p99_vs_bare <= 2,
                note=f"availability p99 {avail.p99:.1f} ms at c=100",
            ),
            # No goal: what the framework alone leaves of the bare app, the ceiling of any
            # route served through it.
            figure(
                "litestar_one_route_vs_bare_asgi",
                ratio(floor.throughput, bare.throughput),
                "x",
                baseline=bare.throughput,
                note=f"one-route Litestar {floor.throughput:.0f} req/s at c=100",
            ),
            figure(
                "availability_vs_litestar_one_route",
                ratio(avail.throughput, floor.throughput),
                "x",
                baseline=floor.throughput,
                note="what the API's rules (auth, rate limit, audit, memo) leave of it",
            ),
        ]
    if replica.requests:
        vs_in_process = ratio(replica.throughput, avail.throughput)
        figures.append(
            figure(
                "replica_vs_in_process_availability",
                vs_in_process,
                "x",
                baseline=avail.throughput,
                goal=">= 0.8",
                met=vs_in_process >= 0.8,
                note=f"`run --api-only` {replica.throughput:.0f} req/s at c=100",
            )
        )
    if book.requests:
        vs_direct = ratio(book.throughput, direct.throughput)
        figures.append(
            figure(
                "bookings_vs_direct_call",
                vs_direct,
                "x",
                baseline=direct.throughput,
                goal=">= 0.5",
                met=vs_direct >= 0.5,
                note=f"POST /bookings {book.throughput:.0f}/s at c=50",
            )
        )
    # The seed's absolute targets, at 100 concurrent calls (p99).
    for name, phase, limit in (
        ("availability_p99_c100", avail, 200),
        ("booking_p99_c100", book100, 500),
        ("hotel_p99_c100", hotel100, 100),
    ):
        if phase.requests:
            figures.append(figure(name, phase.p99, "ms", goal=f"< {limit}", met=phase.p99 < limit))
    measured = {
        "bare_asgi": bare,
        "litestar_one_route": floor,
        "availability": avail,
        "replica_availability": replica,
        "hotel_c100": hotel100,
        "bookings_c50": book,
        "bookings_c100": book100,
    }
    ran = {name: p for name, p in measured.items() if p.requests}
    ok_statuses = {200, 201, 409}
    unexpected = {
        name: dict(p.statuses) for name, p in ran.items() if set(p.statuses) - ok_statuses
    }
    return {
        "figures": figures,
        "details": {
            "phases": phases,
            "server": "uvicorn + httptools + uvloop, head deadline around its protocol"
            " (api/server.py): `run` (bridge + API), `run --api-only` sharing its Redis,"
            " the bare ASGI app and a one-route Litestar app, all on these settings",
            "load_generator": "wrk -t1 (closed loop, keep-alive)",
            "seconds_per_phase": seconds,
            "throughput": {name: round(p.throughput) for name, p in ran.items()},
            "direct_bookings_per_second": round(direct.throughput),
            "direct_booking_outcomes": dict(direct.statuses),
            # Transactions that wrote, per booking: the booking's own, the audit's, the
            # bridge's (the same work for both), so the difference is what the API adds.
            "write_transactions_per_booking": {
                "api_c50": round(ratio(book.xids, book.requests), 2),
                "direct_c50": round(ratio(direct.xids, direct.calls), 2),
            },
            "server_cpu_us_per_request": {
                name: round(p.cpu_us_per_request, 1) for name, p in ran.items()
            },
            "p50_ms": {name: round(p.p50, 2) for name, p in ran.items()},
            "p99_ms_per_round": {name: p.p99s for name, p in ran.items()},
            "statuses": {name: dict(p.statuses) for name, p in ran.items()},
            "unexpected_statuses": unexpected,
        },
    }
