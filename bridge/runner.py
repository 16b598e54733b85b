"""Runs the bridge, the API and /metrics in one process until SIGTERM/SIGINT or a stop event."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn
from psycopg import AsyncConnection, OperationalError
from psycopg_pool import AsyncConnectionPool

from api.app import create_asgi
from api.context import ApiContext
from bridge import contract
from bridge.cache import Cache, open_cache
from bridge.config import ConfigError, Settings, require_database
from bridge.db import APPLICATION_NAME, connect
from bridge.http import answering
from bridge.migrate import require_migrated
from bridge.pipeline import Bridge
from bridge.refresher import start_background
from bridge.service import build_bridge, horizon
from bridge.snapshot import BUILT_MARKER, rebuild_availability
from bridge.sql import query

log = logging.getLogger("pms_bridge.runner")

# Booking commits queue one at a time in PostgreSQL anyway (the PMS's reservation trigger
# NOTIFYs, and notifying transactions commit in turn): 20 connections measured no faster.
BOOKING_CONNECTIONS = 10


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the runner owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def install_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


async def open_pool(
    settings: Settings, max_size: int = 20, *, generic_plans: bool = False
) -> AsyncConnectionPool[Any]:
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        require_database(settings),
        min_size=2,
        max_size=max_size,
        kwargs={"application_name": f"{APPLICATION_NAME}-api", "autocommit": True},
        configure=_generic_plans if generic_plans else None,
        open=False,
    )
    await pool.open(wait=False)
    return pool


async def _generic_plans(conn: AsyncConnection[Any]) -> None:
    """Booking statements read and write one hotel's partitions, named by a parameter. Their
    generic plan prunes partitions when it runs, but the planner costs it with every
    partition and so re-plans each execution (about 1 ms of PostgreSQL time each, more than
    running them): a booking paid ~2.5 ms of planning. Their plans do not depend on the
    values otherwise, so these connections always use the generic plan."""
    await conn.execute(query("api_generic_plans"))


def settle_heap(*_: object) -> None:
    """Moves everything built at start-up (the app, the cache, imported modules) out of the
    collector's sight: a full collection walking them stalled every request for 25-45 ms.
    For the process that serves (an `on_started` of serve), not for one that runs serve()
    many times, such as the tests."""
    gc.collect()
    gc.freeze()


async def ensure_availability_built(settings: Settings, cache: Cache) -> None:
    """An in-process cache starts empty and a new Redis has nothing: build it before serving.
    Rebuilding is always safe, since every entry is recomputed from the PMS tables."""
    if await cache.get_document("meta", BUILT_MARKER) is not None:
        return
    async with await connect(require_database(settings)) as conn:
        written = await rebuild_availability(conn, cache, horizon(settings))
    log.info("availability cache built: %d entries", written)


async def check_migrations(settings: Settings) -> None:
    """This version's migrations, and the PMS schema contract for the capture mode in use."""
    async with await connect(require_database(settings)) as conn:
        await require_migrated(conn)
        report = await contract.check(conn, settings.watched_tables, settings.capture)
        if not report.ok:
            raise ConfigError(report.line())


async def migrations_checked_later(settings: Settings, stop: asyncio.Event) -> None:
    """The migration check for a database unreachable at start-up, once it can be reached
    (its ConfigError ends run); then waits for stop, as the server's other tasks do."""
    wait = 1.0
    while not stop.is_set():
        try:
            await check_migrations(settings)
            break
        except OperationalError:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
            wait = min(wait * 2, 30.0)
    await stop.wait()


async def serve(
    settings: Settings,
    stop: asyncio.Event,
    *,
    run_bridge: bool = True,
    run_api: bool = True,
    cache: Cache | None = None,
    on_started: Callable[[Bridge | None, ApiContext | None], None] | None = None,
) -> Bridge | None:
    """Serve until `stop` is set; the bridge finishes the batch in hand before returning."""
    bridge: Bridge | None = None
    if run_bridge:
        bridge, cache = build_bridge(settings, cache)
    cache = cache or open_cache(settings.redis_url, settings.redis_prefix)
    tasks: list[asyncio.Task[Any]] = []
    server: _Server | None = None
    pool: AsyncConnectionPool[Any] | None = None
    booking_pool: AsyncConnectionPool[Any] | None = None
    ctx: ApiContext | None = None
    try:
        try:
            await check_migrations(settings)
        except OperationalError as exc:
            # run waits for its database (the API answers 503 meanwhile): check once it is up.
            log.warning("database unreachable, its migrations are checked once it is: %s", exc)
            checker = migrations_checked_later(settings, stop)
            tasks.append(asyncio.create_task(checker, name="migrations"))
        if bridge is not None:
            await ensure_availability_built(settings, cache)
            tasks.append(asyncio.create_task(bridge.run(stop), name="bridge"))
            tasks.extend(start_background(settings, cache, stop))
        if run_api:
            pool = await open_pool(settings)
            booking_pool = await open_pool(settings, BOOKING_CONNECTIONS, generic_plans=True)
            ctx = ApiContext(
                settings=settings, cache=cache, pool=pool, booking_pool=booking_pool, bridge=bridge
            )
            served = create_asgi(ctx)
            config = uvicorn.Config(
                served.app, host=settings.api_host, port=settings.api_port,
                log_level="warning", access_log=False, lifespan="on",
                http=answering(served.immediate),
                # No websocket routes: an upgrade never hands the joined-writes transport on.
                ws="none",
                # No `server: uvicorn` on every answer: it tells callers nothing they need.
                server_header=False,
            )  # fmt: skip
            server = _Server(config)
            tasks.append(asyncio.create_task(server.serve(), name="api"))
        if on_started is not None:
            on_started(bridge, ctx)
        stopper = asyncio.create_task(stop.wait())
        # Whichever ends first (a stop request, or a task failing) ends them all.
        await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
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
        if pool is not None:
            await pool.close()
        if booking_pool is not None:
            await booking_pool.close()
        await cache.close()
    return bridge
