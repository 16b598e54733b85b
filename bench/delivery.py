"""Delivery benchmark: webhook events/s against raw POSTs/s, and commit -> acknowledged latency.

Runs on a cluster of its own (embedded PostgreSQL, default durability) with the demo seed
(2 hotels x 100 rooms) and a local receiver playing the booking engine. The baseline is the
same HTTP client posting the same body to the same receiver at the same concurrency with no
database at all, measured in the same run: the ratio says what the outbox, ordering and
bookkeeping cost.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench import figure
from bridge.cache import MemoryCache
from bridge.capture.trigger import OutboxLag
from bridge.config import Settings
from bridge.db import connect, fetch_all, fetch_one, fetch_value, fetch_values
from bridge.delivery.demo import HotelSecret
from bridge.delivery.receiver import Receiver
from bridge.delivery.signing import LEGACY_SIGNATURE_HEADER, sign, standard_headers
from bridge.delivery.worker import DeliveryWorker
from bridge.demo.environment import prepare_pms
from bridge.demo.workload import Workload
from bridge.embedded import PostgresCluster
from bridge.service import build_bridge
from bridge.sql import query
from bridge.wiring.process import serve

CONCURRENCY = 8
SYNC_TARGET_SECONDS = 5.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("delivery")
    group.add_argument(
        "--delivery-events",
        type=int,
        default=3000,
        help="bookings delivered in the throughput run (3000)",
    )
    group.add_argument(
        "--delivery-seconds",
        type=float,
        default=20.0,
        help="length of the fixed-rate latency run (20)",
    )
    group.add_argument(
        "--delivery-rate",
        type=float,
        default=100.0,
        help="workload transactions/s of the latency run (100)",
    )


async def _raw_posts(url: str, secret: str, body: bytes, count: int) -> float:
    """POSTs/s of the bare client: the same headers and body, no database."""
    headers = {
        "Content-Type": "application/json",
        **standard_headers([secret], "bench", int(time.time()), body),
        LEGACY_SIGNATURE_HEADER: sign(secret, body),
    }
    queue = list(range(count))

    async def worker(client: httpx.AsyncClient) -> None:
        while queue:
            queue.pop()
            response = await client.post(url, content=body, headers=headers)
            response.raise_for_status()

    limits = httpx.Limits(max_connections=CONCURRENCY * 2)
    async with httpx.AsyncClient(limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(CONCURRENCY)))
        return count / (time.perf_counter() - started)


async def _wait_delivered(url: str, expected: int, limit: float = 600.0) -> None:
    deadline = time.monotonic() + limit
    async with await connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            delivered = await fetch_value(
                conn, "SELECT count(*) FROM pms_bridge.delivery_events WHERE status = 'delivered'"
            )
            if delivered is not None and delivered >= expected:
                return
            await asyncio.sleep(0.05)
    raise TimeoutError("deliveries did not finish")


async def _throughput(url: str, settings: Settings, events: int) -> float:
    """Events/s from a full outbox to all acknowledged (enqueued beforehand, then timed)."""
    night = date.today() + timedelta(days=200)
    async with await connect(url, autocommit=True) as conn:
        await conn.execute(
            "WITH r AS (INSERT INTO reservations (hotel_id, reservation_client_id, check_in,"
            " check_out, number_of_people, status) SELECT 1 + i %% 2,"
            " (SELECT min(id::text)::uuid FROM clients), %(night)s::date, %(night)s::date + 1, 1,"
            " 'confirmed'"
            " FROM generate_series(1, %(n)s) i RETURNING id, hotel_id, check_in)"
            " INSERT INTO reservation_details (hotel_id, reservation_id, date, room_id,"
            " number_of_people) SELECT r.hotel_id, r.id, r.check_in,"
            " (SELECT min(id) FROM rooms WHERE hotel_id = r.hotel_id), 1 FROM r",
            {"night": night, "n": events},
        )
    bridge, _ = build_bridge(settings, MemoryCache())
    stop = asyncio.Event()
    await bridge._open(stop)
    try:
        while (await bridge.source.lag())[0] > 0:
            await bridge.step()
    finally:
        await bridge._close()
    worker = DeliveryWorker(
        url, concurrency=CONCURRENCY, poll_interval=0.05, allow_loopback_http=True
    )
    started = time.perf_counter()
    task = asyncio.create_task(worker.run(stop))
    await _wait_delivered(url, events)
    elapsed = time.perf_counter() - started
    stop.set()
    await task
    return events / elapsed


async def _latency(url: str, settings: Settings, seconds: float, rate: float) -> list[float]:
    """Commit in the PMS -> acknowledged by the receiver, for every event of a fixed load."""
    async with await connect(url, autocommit=True) as conn:
        last = await fetch_value(
            conn, "SELECT coalesce(max(seq), 0) FROM pms_bridge.delivery_events"
        )
        first_seq = int(last or 0)
    stop_all, stop_load = asyncio.Event(), asyncio.Event()
    server = asyncio.create_task(serve(settings, stop_all, run_api=False, cache=MemoryCache()))
    workload = Workload(url, rate)
    load = asyncio.create_task(workload.run(stop_load))
    await asyncio.sleep(seconds)
    stop_load.set()
    await load
    async with await connect(url, autocommit=True) as conn:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            open_events = await fetch_value(conn, query("delivery_open_events"))
            if open_events == 0 and (await bridge_idle(conn)):
                break
            await asyncio.sleep(0.2)
        delays = await fetch_values(
            conn,
            "SELECT extract(epoch FROM delivered_at - occurred_at) FROM pms_bridge.delivery_events"
            " WHERE seq > %s AND status = 'delivered'",
            (first_seq,),
        )
        latencies = [float(delay) for delay in delays]
    stop_all.set()
    await server
    return latencies


async def bridge_idle(conn: psycopg.AsyncConnection[Any]) -> bool:
    lag = await fetch_one(conn, OutboxLag, query("outbox_lag"))
    return lag is not None and lag.rows == 0


async def run(args: argparse.Namespace) -> dict[str, Any]:
    events = 300 if args.quick else args.delivery_events
    seconds = 5.0 if args.quick else args.delivery_seconds
    root = Path(tempfile.mkdtemp(prefix="pms-bridge-bench-delivery-"))
    cluster = PostgresCluster(root / "pgdata")
    receiver = Receiver({})
    await asyncio.to_thread(cluster.start)
    try:
        with psycopg.connect(cluster.url(), autocommit=True) as admin:
            admin.execute(query("create_database_pms"))
        url = cluster.url("pms")
        settings = Settings(database_url=url, poll_interval=0.05)
        await prepare_pms(url, settings, hotels=2, rooms_per_hotel=100, days=120)
        endpoint = await receiver.start()
        async with await connect(url, autocommit=True) as conn:
            params = {"url": endpoint}
            rows = await fetch_all(conn, HotelSecret, query("delivery_demo_configure"), params)
            receiver.secrets.update({row.hotel_id: row.webhook_secret for row in rows})
        body = b'{"event_id": "x", "hotel_id": 1, "reservation": {"id": "y", "nights": []}}'
        baseline = await _raw_posts(endpoint, receiver.secrets[1], body, events)
        rate = await _throughput(url, settings, events)
        latencies = await _latency(url, settings, seconds, args.delivery_rate)
    finally:
        await receiver.stop()
        await asyncio.to_thread(cluster.destroy)
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) if ordered else 0.0
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else 0.0
    return {
        "figures": [
            figure(
                "delivered events/s (from a full outbox)",
                rate,
                "events/s",
                baseline=baseline,
                note="baseline: bare POSTs/s, same client, body and concurrency, no DB",
            ),
            figure(
                "delivered / raw POST throughput", rate / baseline if baseline else 0.0, "ratio"
            ),
            figure("commit -> acknowledged p50", p50 * 1000, "ms"),
            figure(
                "commit -> acknowledged p99",
                p99 * 1000,
                "ms",
                goal=f"< {SYNC_TARGET_SECONDS:g} s",
                met=p99 < SYNC_TARGET_SECONDS,
            ),
        ],
        "events_latency_run": len(latencies),
        "concurrency": CONCURRENCY,
        "workload_rate": args.delivery_rate,
    }
