"""Booking driver benchmark: the API's booking statement (api_booking_create, one call of
pms_bridge.api_booking_create) made by 50 tasks through psycopg's pool, as the API's booking
pool makes it (api.server.new_pool), and through asyncpg's at its best for this call (the
booking pool's settings at connection start, no reset round trip on release): bookings per
second and this process's CPU per call, for a pool of the API's size and one connection per
task, in interleaved rounds on bodies drawn alike (bench/api.py's). The design names both
drivers; the API keeps the faster. The database is an embedded PostgreSQL with the demo
seed, as in bench/api.py.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import psycopg
from psycopg.rows import dict_row

from api.booking_errors import BookingError
from api.bookings import Writer, create_params, created
from api.errors import refused_answer
from api.schemas import BookingCreate
from api.server import BOOKING_CONNECTIONS, new_pool
from bench import figure
from bench.api import booking_bodies, ratio
from bridge.config import Settings
from bridge.db import APPLICATION_NAME
from bridge.demo.environment import prepare_pms
from bridge.embedded import PostgresCluster
from bridge.sql import query

TASKS = 50
# Rounds in turn order and reversed (ABBA): the year of rooms fills as they book, and 409s
# cost more than bookings, so no driver may always come later.
ROUNDS = 4
DRIVERS = ("psycopg", "asyncpg")
POOL_SIZES = (BOOKING_CONNECTIONS, TASKS)

Call = Callable[[dict[str, Any]], Awaitable[str]]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("drivers")
    group.add_argument(
        "--drivers-seconds",
        type=float,
        default=24.0,
        help="measured seconds per driver and pool size (24; split over interleaved rounds)",
    )


def positional(sql: str) -> tuple[str, list[str]]:
    """A named block's %(name)s placeholders as asyncpg's $n, and the names in $n order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match[1] not in names:
            names.append(match[1])
        return f"${names.index(match[1]) + 1}"

    return re.sub(r"%\((\w+)\)s", number, sql), names


def startup_settings(block: str) -> dict[str, str]:
    """A block of `SET name = value;` statements as connection startup settings: these are
    the session's defaults, so they survive the RESET ALL of asyncpg's default reset."""
    found = re.findall(r"^SET (\w+) = '?([^';]+)'?;$", block, re.MULTILINE)
    settings = {name: value for name, value in found}
    assert len(settings) == block.count("SET "), block
    return settings


class Tally:
    """Calls through one driver and pool size, summed over rounds."""

    def __init__(self) -> None:
        self.calls = 0
        self.seconds = 0.0
        self.cpu_seconds = 0.0
        self.statuses: Counter[int] = Counter()

    @property
    def throughput(self) -> float:
        return self.calls / self.seconds if self.seconds else 0.0

    @property
    def cpu_us_per_call(self) -> float:
        return self.cpu_seconds / self.calls * 1e6 if self.calls else 0.0


async def drive(call: Call, bodies: list[BookingCreate], writer: Writer, seconds: float) -> Tally:
    """TASKS tasks booking for `seconds` after a one-second warm-up."""
    tally = Tally()
    stop_at = 0.0

    async def task(offset: int) -> None:
        i = offset
        while time.monotonic() < stop_at:
            body = bodies[i % len(bodies)]
            try:
                answer = created(await call(create_params(0, body, None, writer)), body, None)
                tally.statuses[answer.status_code] += 1
            except BookingError as exc:
                tally.statuses[refused_answer(exc)[0]] += 1
            i += TASKS

    stop_at = time.monotonic() + 1.0
    await asyncio.gather(*(task(n) for n in range(TASKS)))
    tally.statuses.clear()
    started, cpu = time.monotonic(), time.process_time()
    stop_at = started + seconds
    await asyncio.gather(*(task(n) for n in range(TASKS)))
    tally.seconds = time.monotonic() - started
    tally.cpu_seconds = time.process_time() - cpu
    tally.calls = tally.statuses.total()
    return tally


async def with_psycopg(
    url: str, size: int, bodies: list[BookingCreate], writer: Writer, seconds: float
) -> Tally:
    pool = new_pool(Settings(database_url=url), size, generic_plans=True)
    await pool.open(wait=True)

    async def call(params: dict[str, Any]) -> str:
        async with pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(query("api_booking_create"), params)
            row = await cur.fetchone()
        assert row is not None
        found: str = row["json"]
        return found

    try:
        return await drive(call, bodies, writer, seconds)
    finally:
        await pool.close()


async def with_asyncpg(
    url: str, size: int, bodies: list[BookingCreate], writer: Writer, seconds: float
) -> Tally:
    sql, names = positional(query("api_booking_create"))

    async def keep(conn: asyncpg.Connection) -> None:
        """Each booking statement is its own transaction and leaves no session state: nothing
        to reset on release (asyncpg's default reset costs a round trip per call)."""

    pool = await asyncpg.create_pool(
        url,
        min_size=2,
        max_size=size,
        reset=keep,
        server_settings={
            **startup_settings(query("api_generic_plans")),
            "application_name": f"{APPLICATION_NAME}-api",
        },
    )

    async def call(params: dict[str, Any]) -> str:
        async with pool.acquire() as conn:
            row = await conn.fetchrow(sql, *(params[name] for name in names))
        assert row is not None
        found: str = row["json"]
        return found

    try:
        return await drive(call, bodies, writer, seconds)
    finally:
        await pool.close()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    quick = bool(getattr(args, "quick", False))
    seconds = 3.0 if quick else args.drivers_seconds
    root = Path(tempfile.mkdtemp(prefix="pms-bridge-bench-drivers-"))
    cluster = PostgresCluster(root / "pgdata")
    await asyncio.to_thread(cluster.start)
    tallies = {(driver, size): Tally() for size in POOL_SIZES for driver in DRIVERS}
    try:
        with psycopg.connect(cluster.url(), autocommit=True) as admin:
            admin.execute(query("create_database_pms"))
        url = cluster.url("pms")
        settings = Settings(database_url=url)
        await prepare_pms(url, settings, hotels=3, rooms_per_hotel=100)
        with psycopg.connect(url) as conn:
            types = [r[0] for r in conn.execute(query("api_bench_room_types")).fetchall()]
        writer = Writer(settings.pms_user_id, settings.pms_agent, date.today())
        turn = 0
        for round_ in range(ROUNDS):
            order = list(tallies.items())
            for (driver, size), tally in order if round_ % 2 == 0 else reversed(order):
                turn += 1
                bodies = [
                    msgspec.json.decode(body, type=BookingCreate)
                    for body in booking_bodies(types, 1000 + turn, 5_000)
                ]
                measure = with_psycopg if driver == "psycopg" else with_asyncpg
                got = await measure(url, size, bodies, writer, seconds / ROUNDS)
                tally.calls += got.calls
                tally.seconds += got.seconds
                tally.cpu_seconds += got.cpu_seconds
                tally.statuses.update(got.statuses)
    finally:
        await asyncio.to_thread(cluster.destroy)
        shutil.rmtree(root, ignore_errors=True)

    figures = []
    for size in POOL_SIZES:
        fast, base = tallies[("asyncpg", size)], tallies[("psycopg", size)]
        figures += [
            figure(
                f"asyncpg_vs_psycopg_bookings_pool{size}",
                ratio(fast.throughput, base.throughput),
                "x",
                baseline=base.throughput,
                note=f"asyncpg {fast.throughput:.0f} bookings/s, {TASKS} tasks",
            ),
            figure(
                f"asyncpg_vs_psycopg_client_cpu_pool{size}",
                ratio(fast.cpu_us_per_call, base.cpu_us_per_call),
                "x",
                baseline=base.cpu_us_per_call,
                note=f"asyncpg {fast.cpu_us_per_call:.0f} us of this process's CPU per call",
            ),
        ]
    return {
        "figures": figures,
        "details": {
            "tasks": TASKS,
            "seconds_per_driver_and_pool": seconds,
            "bookings_per_second": {
                f"{driver}_pool{size}": round(t.throughput, 1)
                for (driver, size), t in tallies.items()
            },
            "client_cpu_us_per_call": {
                f"{driver}_pool{size}": round(t.cpu_us_per_call)
                for (driver, size), t in tallies.items()
            },
            "statuses": {
                f"{driver}_pool{size}": dict(t.statuses) for (driver, size), t in tallies.items()
            },
        },
    }
