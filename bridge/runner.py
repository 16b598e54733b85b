"""Runs the bridge, the API and /metrics in one process until SIGTERM/SIGINT or a stop event."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import logging
import signal
import socket
from asyncio import FIRST_COMPLETED
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn
from psycopg import AsyncConnection, OperationalError
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from api.app import create_app
from api.context import ApiContext
from bridge import contract
from bridge.api_server import server_config
from bridge.cache import Cache, open_cache
from bridge.config import ConfigError, Settings, require_database
from bridge.db import APPLICATION_NAME, connect, first_line
from bridge.migrate import require_migrated
from bridge.observer import Observer
from bridge.pipeline import Bridge
from bridge.refresher import start_background
from bridge.service import build_bridge, horizon
from bridge.shared_version import SharedVersion, announce
from bridge.snapshot import BUILT_MARKER, rebuild_availability
from bridge.sql import query
from metrics import definitions as m

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


def new_pool(
    settings: Settings, max_size: int = 20, *, generic_plans: bool = False
) -> AsyncConnectionPool[Any]:
    """Not open yet: run opens its pools once the database answers. An open pool retries a
    database that is down in the background, with a warning per attempt."""
    return AsyncConnectionPool(
        require_database(settings),
        min_size=2,
        max_size=max_size,
        kwargs={"application_name": f"{APPLICATION_NAME}-api", "autocommit": True},
        configure=_generic_plans if generic_plans else None,
        open=False,
    )


async def open_pools(pools: list[AsyncConnectionPool[Any]]) -> None:
    for pool in pools:
        await pool.open(wait=False)


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
        # Applying pauses (and sets it to 0) when the contract breaks later.
        m.schema_contract_ok.set(1)
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query("contract_pms_user"), {"user_id": settings.pms_user_id})
            row = await cur.fetchone()
        if row is None or not row["known"]:
            raise ConfigError(
                f"BRIDGE_PMS_USER_ID={settings.pms_user_id} is no user of the PMS (users.id):"
                " set it to the PMS user bookings are written as"
            )


def bind_api(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """The API's socket, bound before anything starts. Left to uvicorn, a port in use ended
    the process with sys.exit from inside the server's task: a traceback after its message
    in `run`, and a demo that hung, deaf to SIGTERM and Ctrl-C."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        # `run --workers N`: N processes listen on one port; the kernel spreads connections.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"{host}:{port} is in use; free it or set API_PORT / --port"
            ) from None
        raise ConfigError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); "
            "set API_HOST / --host and API_PORT / --port"
        ) from None
    return sock


def api_url(settings: Settings) -> str:
    host = settings.api_host
    return f"http://{f'[{host}]' if ':' in host else host}:{settings.api_port}"


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
    server: _Server | None = None
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
            if bridge is None and settings.redis_url:
                shared = SharedVersion(settings.redis_url, settings.redis_prefix)
                shared.start()
            ctx = ApiContext(
                settings=settings,
                cache=cache,
                pool=pool,
                booking_pool=booking_pool,
                status=bridge,
                shared=shared,
            )
            config = server_config(create_app(ctx), settings)
            server = _Server(config)
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
                announcing = announce(
                    settings.redis_url, settings.redis_prefix, bridge, bridge.moved, stop
                )
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
