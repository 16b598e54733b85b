"""A background job on its own database connection, run every so often until the process stops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg

from bridge.db import connect

Job = Callable[[psycopg.AsyncConnection[Any]], Awaitable[object]]


async def every(
    interval: float,
    stop: asyncio.Event,
    database_url: str,
    job: Job,
    *,
    recoverable: tuple[type[BaseException], ...],
    log: logging.Logger,
    skipped: str,
) -> None:
    """Runs `job` every `interval` seconds until `stop`. A recoverable error only skips that
    run: it is logged as `skipped: <error>` and the next run opens a new connection, so a
    database that went away is found again once it is back."""
    conn: psycopg.AsyncConnection[Any] | None = None
    try:
        while not stop.is_set():
            try:
                if conn is None or conn.closed:
                    conn = await connect(database_url, autocommit=True)
                await job(conn)
            except recoverable as exc:
                log.warning("%s: %s", skipped, exc)
                if conn is not None:
                    await conn.close()
                    conn = None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
    finally:
        if conn is not None:
            await conn.close()
