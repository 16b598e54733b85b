"""The background jobs' loop (observer gauges, cache refresher): a failed run is skipped and
the next one runs on a new connection; stopping closes the connection."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import psycopg
import pytest

from bridge.periodic import every


async def test_a_failed_run_is_skipped_and_the_next_gets_a_new_connection(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    stop = asyncio.Event()
    backends: list[int] = []
    connections: list[psycopg.AsyncConnection[Any]] = []

    async def job(conn: psycopg.AsyncConnection[Any]) -> None:
        connections.append(conn)
        backends.append(conn.info.backend_pid)
        if len(backends) == 2:
            # What a restarted server does to an open connection.
            await conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        if len(backends) == 4:
            stop.set()

    with caplog.at_level(logging.WARNING, logger="test.periodic"):
        await asyncio.wait_for(
            every(
                0.01,
                stop,
                db_url,
                job,
                recoverable=(psycopg.Error,),
                log=logging.getLogger("test.periodic"),
                skipped="test job skipped",
            ),
            timeout=60,
        )
    assert len(backends) == 4
    assert backends[0] == backends[1]
    assert backends[2] == backends[3] != backends[1]
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["test job skipped"]
    assert all(conn.closed for conn in connections)


async def test_an_error_it_does_not_recover_from_ends_the_loop(db_url: str) -> None:
    async def job(conn: psycopg.AsyncConnection[Any]) -> None:
        raise ValueError("a bug, not an outage")

    with pytest.raises(ValueError, match="a bug"):
        await every(
            0.01,
            asyncio.Event(),
            db_url,
            job,
            recoverable=(psycopg.Error,),
            log=logging.getLogger("test.periodic"),
            skipped="skipped",
        )
