"""`pms-bridge demo`: the product on embedded defaults, a workload, a live line and a summary."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import sys
import time
from datetime import date, datetime, timedelta
from typing import Any

from api.commands.keys import create_key
from api.server import api_url, bind_api
from bridge.cache import open_cache
from bridge.config import Settings
from bridge.db import connect, fetch_value
from bridge.delivery.demo import finish_demo_delivery, start_demo_receiver
from bridge.demo.environment import prepare_pms, start_embedded
from bridge.demo.verify import compare
from bridge.demo.workload import Workload
from bridge.embedded import PostgresCluster, embedded_bindir
from bridge.pipeline import Bridge
from bridge.service import horizon
from bridge.snapshot import rebuild_availability
from bridge.sql import query
from bridge.wiring.process import install_stop_signals, serve

DRAIN_SECONDS = 60.0
# The hotel of the key and the curl line printed at start (the demo seed has hotels 1..N).
DEMO_HOTEL = 1


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def _progress(bridge: Bridge, workload: Workload, stop: asyncio.Event, live: bool) -> None:
    last_applied, last_at = bridge.applied, time.monotonic()
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
        now = time.monotonic()
        rate = (bridge.applied - last_applied) / max(now - last_at, 1e-6)
        last_applied, last_at = bridge.applied, now
        p50 = bridge.latencies.percentile(0.5) * 1000
        p99 = bridge.latencies.percentile(0.99) * 1000
        line = (
            f"changes/s={rate:7.0f} applied={bridge.applied:8d} p50={p50:6.1f}ms "
            f"p99={p99:6.1f}ms lag={bridge.lag[1]:5.2f}s waiting={bridge.lag[0]:5.0f}"
        )
        if live:
            print(f"\r{line}", end="", file=sys.stderr, flush=True)


async def _drain(bridge: Bridge, url: str) -> None:
    """Wait until every captured change has been applied (or give up after DRAIN_SECONDS)."""
    deadline = time.monotonic() + DRAIN_SECONDS
    while time.monotonic() < deadline:
        # Outbox rows waiting (trigger) or unconfirmed slot bytes (logical): 0 when drained.
        waiting, _seconds = await bridge.source.lag()
        if waiting == 0:
            return
        await asyncio.sleep(0.2)


async def run_demo(args: argparse.Namespace, base: Settings) -> int:
    cluster: PostgresCluster | None = None
    settings = base
    # The demo's receiver is plain http on 127.0.0.1.
    overrides: dict[str, Any] = {"webhook_allow_loopback_http": True}
    if args.port is not None:
        overrides["api_port"] = args.port
    if args.host is not None:
        overrides["api_host"] = args.host
    if settings.database_url is None:
        embedded_bindir()  # without the demo extra: one line saying what to install
    # A port in use ends the demo before the embedded cluster and the seed, not after them
    # (serve binds it again for good).
    settings = _with(settings, overrides)
    bind_api(settings.api_host, settings.api_port).close()
    try:
        if settings.database_url is None:
            _say("demo: starting embedded PostgreSQL ...")
            cluster = await asyncio.to_thread(start_embedded, args.data_dir)
            overrides["database_url"] = cluster.url("pms")
        settings = _with(settings, overrides)
        assert settings.database_url is not None
        _say("demo: creating the PMS schema and seed data, migrating ...")
        await prepare_pms(
            settings.database_url,
            settings,
            hotels=args.hotels,
            rooms_per_hotel=args.rooms_per_hotel,
        )
        cache = open_cache(settings.redis_url, settings.redis_prefix)
        await cache.clear()
        async with await connect(settings.database_url) as conn:
            written = await rebuild_availability(conn, cache, horizon(settings))
        async with await connect(settings.database_url, autocommit=True) as conn:
            # Made as `pms-bridge keys create` makes one, for the curl line printed once the
            # API is up.
            key = await create_key(conn, DEMO_HOTEL, "book", description="pms-bridge demo")
        _say(
            f"demo: cache built ({written} availability entries, "
            f"{'redis' if settings.redis_url else 'in-process'})"
        )
        return await _run(args, settings, cache, key.key)
    finally:
        if cluster is not None:
            await asyncio.to_thread(cluster.stop)
            if args.data_dir is None:
                shutil.rmtree(cluster.datadir.parent, ignore_errors=True)


def _with(settings: Settings, overrides: dict[str, Any]) -> Settings:
    import msgspec

    return msgspec.structs.replace(settings, **overrides)


def _try_it(settings: Settings, key: str) -> None:
    """Where the demo's database is, a key, and one call that works with it."""
    tomorrow = date.today() + timedelta(days=1)
    url = (
        f"{api_url(settings)}/api/booking-engine/availability/{DEMO_HOTEL}"
        f"?start_date={tomorrow}&end_date={tomorrow + timedelta(days=1)}"
    )
    _say(f"demo: DATABASE_URL={settings.database_url}")
    _say(f"demo: API key (hotel {DEMO_HOTEL}, scope book): {key}")
    _say(f"demo: try: curl -H 'Authorization: Bearer {key}' '{url}'")


async def _run(args: argparse.Namespace, settings: Settings, cache: Any, key: str) -> int:
    assert settings.database_url is not None
    stop_all = asyncio.Event()
    stop_progress = asyncio.Event()
    stop_workload = asyncio.Event()
    install_stop_signals(stop_workload)
    started_at = datetime.now()
    receiver = await start_demo_receiver(settings.database_url)
    workload = Workload(settings.database_url, args.rate)
    state: dict[str, Bridge] = {}

    def started(bridge: Bridge | None, _ctx: Any) -> None:
        if bridge is not None:
            state["bridge"] = bridge

    server = asyncio.create_task(serve(settings, stop_all, cache=cache, on_started=started))
    await asyncio.sleep(0.5)
    if server.done():
        await server
        return 1
    bridge = state["bridge"]
    _say(
        f"demo: API on http://{settings.api_host}:{settings.api_port} "
        f"(/dashboard, /metrics, /api/booking-engine/...); workload {args.rate:.0f} tx/s; "
        f"Ctrl-C to stop"
    )
    _try_it(settings, key)
    live = not args.quiet and sys.stderr.isatty()
    load = asyncio.create_task(workload.run(stop_workload))
    progress = asyncio.create_task(_progress(bridge, workload, stop_progress, live))
    if args.duration is not None:
        try:
            await asyncio.wait_for(stop_workload.wait(), args.duration)
        except TimeoutError:
            stop_workload.set()
    else:
        await stop_workload.wait()
    await load
    await _drain(bridge, settings.database_url)
    delivery = await finish_demo_delivery(settings.database_url, started_at, receiver)
    # The live line ends before anything else is printed: stopped first, so no tick redraws
    # it after its newline and glues the summary to it.
    stop_progress.set()
    await progress
    if live:
        print(file=sys.stderr, flush=True)
    async with await connect(settings.database_url) as conn:
        verdict = await compare(conn, cache, horizon(settings))
        params = {"since": started_at}
        missing = await fetch_value(conn, query("verify_reservations_without_sync"), params)
        missing_sync = int(missing or 0)
    p50 = bridge.latencies.percentile(0.5) * 1000
    p99 = bridge.latencies.percentile(0.99) * 1000
    stop_all.set()
    await server
    for line in verdict.mismatched:
        _say(f"demo: mismatch {line}")
    lost = verdict.lost + missing_sync
    print(
        f"summary: changes={workload.changes} applied={bridge.applied} lost={lost} "
        f"duplicated={verdict.duplicated} p50_ms={p50:.1f} p99_ms={p99:.1f} {delivery}",
        flush=True,
    )
    return 0 if lost == 0 and verdict.duplicated == 0 else 1
