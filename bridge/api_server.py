"""The API's HTTP server settings: stock uvicorn on httptools, under the request head deadline.

One definition for `run` and for the benchmark's bare ASGI baseline (bench/_bare.py), so the
baseline is measured on the very server settings the API is served with.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from bridge.config import Settings
from bridge.deadlines import with_head_deadline


def server_config(app: Callable[..., Awaitable[Any]], settings: Settings) -> uvicorn.Config:
    """The server as `run` configures it (the event loop is the process's: uvloop, see cli)."""
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
