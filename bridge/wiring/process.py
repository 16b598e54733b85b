"""Builds the process: the bridge, the API and its server, run together until SIGTERM/SIGINT
or a stop event (`pms-bridge run`, `--no-api`, `--api-only`, `--workers N`)."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import subprocess
import sys
from asyncio import FIRST_COMPLETED
from collections.abc import Callable
from typing import Any

from psycopg import OperationalError
from psycopg_pool import AsyncConnectionPool

from api.app import create_app
from api.context import ApiContext
from api.server import (
    BOOKING_CONNECTIONS,
    ApiServer,
    api_server,
    api_url,
    bind_api,
    new_pool,
    open_pools,
)
from bridge.cache import Cache, open_cache
from bridge.config import Settings
from bridge.db import first_line
from bridge.observer import Observer
from bridge.pipeline import Bridge
from bridge.refresher import start_background
from bridge.service import build_bridge
from bridge.shared_version import SharedVersions, announce
from bridge.startup import check_migrations, ensure_availability_built

log = logging.getLogger("pms_bridge.runner")


def install_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


def settle_heap(*_: object) -> None:
    """Moves everything built at start-up (the app, the cache, imported modules) out of the
    collector's sight: a full collection walking them stalls every request it interrupts.
    For the process that serves (an `on_started` of serve), not for one that runs serve()
    many times, such as the tests."""
    gc.collect()
    gc.freeze()


async def run(
    settings: Settings,
    *,
    run_bridge: bool,
    run_api: bool,
    workers: int,
    reuse_port: bool,
    on_listening: Callable[[str], None],
) -> None:
    """`pms-bridge run`: this process, and `workers - 1` more API processes on its port."""
    stop = asyncio.Event()
    install_stop_signals(stop)
    others = [_api_worker(settings) for _ in range(workers - 1)]
    try:
        await serve(
            settings,
            stop,
            run_bridge=run_bridge,
            run_api=run_api,
            on_started=settle_heap,
            on_listening=on_listening,
            reuse_port=workers > 1 or reuse_port,
        )
    finally:
        for worker in others:
            worker.send_signal(signal.SIGTERM)
        for worker in others:
            await asyncio.to_thread(worker.wait)


def _api_worker(settings: Settings) -> subprocess.Popen[bytes]:
    """One more API process on the same port (`run --workers N`)."""
    env = {**os.environ, "API_HOST": settings.api_host, "API_PORT": str(settings.api_port)}
    return subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", "run", "--api-only", "--reuse-port"], env=env
    )


async def database_reachable(settings: Settings, run_api: bool) -> bool:
    """Whether the database answers; a reachable one that lacks migrations ends run
    (ConfigError). An unreachable one is said once: run waits for it."""
    try:
        await check_migrations(settings)
    except OperationalError as exc:
        meanwhile = ": /health/live answers, /health/ready is 503 until it is up"
        log.warning(
            "the database is unreachable (%s); waiting for it%s",
            first_line(exc),
            meanwhile if run_api else "",
        )
        return False
    return True


async def database_comes_up(
    settings: Settings, stop: asyncio.Event, tasks: list[asyncio.Task[Any]]
) -> bool:
    """Retries quietly until the database answers (True), or until stop is set or a task
    ends (False): the wait was said once, a line per retry would bury everything else."""
    wait = 0.5
    stopper = asyncio.create_task(stop.wait())
    try:
        while True:
            await asyncio.wait([stopper, *tasks], timeout=wait, return_when=FIRST_COMPLETED)
            if stop.is_set() or any(task.done() for task in tasks):
                return False
            try:
                await check_migrations(settings)
            except OperationalError:
                wait = min(wait * 2, 5.0)
                continue
            log.info("the database is up: starting")
            return True
    finally:
        stopper.cancel()


async def serve(
    settings: Settings,
    stop: asyncio.Event,
    *,
    run_bridge: bool = True,
    run_api: bool = True,
    cache: Cache | None = None,
    on_started: Callable[[Bridge | None, ApiContext | None], None] | None = None,
    on_listening: Callable[[str], None] | None = None,
    reuse_port: bool = False,
) -> Bridge | None:
    """Serve until `stop` is set; the bridge finishes the batch in hand before returning.
    A database unreachable at start is waited for, with the API (when it runs) answering
    meanwhile: the bridge, its background tasks and the API's pools start once it is up."""
    sock = (
        bind_api(settings.api_host, settings.api_port, reuse_port=reuse_port) if run_api else None
    )
    bridge: Bridge | None = None
    if run_bridge:
        bridge, cache = build_bridge(settings, cache)
    cache = cache or open_cache(settings.redis_url, settings.redis_prefix)
    tasks: list[asyncio.Task[Any]] = []
    server: ApiServer | None = None
    pools: list[AsyncConnectionPool[Any]] = []
    ctx: ApiContext | None = None
    try:
        reachable = await database_reachable(settings, run_api)
        if reachable and bridge is not None:
            await ensure_availability_built(settings, cache)
        if sock is not None:
            pool = new_pool(settings)
            booking_pool = new_pool(settings, BOOKING_CONNECTIONS, generic_plans=True)
            pools = [pool, booking_pool]
            if reachable:
                await open_pools(pools)
            shared = None
            if settings.redis_url:
                # Followed by the bridge's own API too: writers in other processes (a cache
                # command, a replica's admin route) move versions through Redis alone.
                shared = SharedVersions(settings.redis_url, settings.redis_prefix)
                shared.start()
            ctx = ApiContext(
                settings=settings,
                cache=cache,
                pool=pool,
                booking_pool=booking_pool,
                status=bridge,
                shared=shared,
            )
            server = api_server(create_app(ctx), settings)
            tasks.append(asyncio.create_task(server.serve(sockets=[sock]), name="api"))
            if on_listening is not None:
                on_listening(api_url(settings))
        if not reachable and await database_comes_up(settings, stop, tasks):
            reachable = True
            if bridge is not None:
                await ensure_availability_built(settings, cache)
            await open_pools(pools)
        if reachable:
            observer = Observer.from_settings(settings)
            tasks.append(asyncio.create_task(observer.run(stop), name="observer"))
        if reachable and bridge is not None:
            tasks.append(asyncio.create_task(bridge.run(stop), name="bridge"))
            if settings.redis_url:
                announcing = announce(settings.redis_url, settings.redis_prefix, bridge.moves, stop)
                tasks.append(asyncio.create_task(announcing, name="announce"))
            tasks.extend(start_background(settings, cache, stop, bridge.source, bridge.consumer))
        if on_started is not None:
            on_started(bridge, ctx)
        stopper = asyncio.create_task(stop.wait())
        # Whichever ends first (a stop request, or a task failing) ends them all.
        await asyncio.wait([*tasks, stopper], return_when=FIRST_COMPLETED)
        stop.set()
        if server is not None:
            server.should_exit = True
        results = await asyncio.gather(*tasks, return_exceptions=True)
        stopper.cancel()
        for result in results:
            if isinstance(result, Exception):
                raise result
    finally:
        stop.set()
        if server is not None:
            server.should_exit = True
        for task in tasks:
            if not task.done():
                await asyncio.gather(task, return_exceptions=True)
        if ctx is not None and ctx.shared is not None:
            await ctx.shared.stop()
        for pool in pools:
            await pool.close()
        if sock is not None:
            sock.close()
        await cache.close()
    return bridge
