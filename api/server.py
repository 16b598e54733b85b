"""The API's server: its socket, its PostgreSQL pools and uvicorn's settings."""

from __future__ import annotations

import contextlib
import errno
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn
from litestar import Litestar
from litestar.types import ASGIApp
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from api.deadlines import with_head_deadline
from bridge.config import ConfigError, Settings, require_database
from bridge.db import APPLICATION_NAME
from bridge.sql import query

# Booking commits queue one at a time in PostgreSQL anyway (the PMS's reservation trigger
# NOTIFYs, and notifying transactions commit in turn): more connections only wait longer.
BOOKING_CONNECTIONS = 10


class ApiServer(uvicorn.Server):
    """uvicorn without its own signal handling: the process that runs it owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


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
    partition and so re-plans each execution, which costs more than running them. Their plans
    do not depend on the values otherwise, so these connections always use the generic
    plan."""
    await conn.execute(query("api_generic_plans"))


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


def server_config(app: ASGIApp, settings: Settings) -> uvicorn.Config:
    """uvicorn's settings for the API (the event loop is the process's: uvloop, see the CLI).
    The benchmark's bare ASGI baseline is served on these too, so it measures the very server
    the API runs on."""
    return uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        http=with_head_deadline(HttpToolsProtocol, settings.header_timeout),
        # Whose X-Forwarded-For is believed: BRIDGE_TRUSTED_PROXIES only, never
        # uvicorn's default (127.0.0.1, or FORWARDED_ALLOW_IPS from the environment).
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies),
        # Connections beyond this are answered 503 (each held at most header_timeout
        # before its request head).
        limit_concurrency=settings.max_connections,
        # No websocket routes.
        ws="none",
        # No `server: uvicorn` on every answer: it tells callers nothing they need.
        server_header=False,
    )


def api_server(app: Litestar, settings: Settings) -> ApiServer:
    """uvicorn serving `app` with the API's edges from the settings."""
    return ApiServer(server_config(app, settings))
