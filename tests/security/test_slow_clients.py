"""Slow and many clients: a request head and a body each have a deadline, and connections
past the bound are answered 503, while /health/live keeps answering."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import uuid

import httpx
import msgspec

from bridge.cache.memory import MemoryCache
from bridge.config import Settings
from tests.support.api_server import free_port, read_response, running_api

# Only a hung test is stopped by this; nothing here asserts a speed.
HUNG = 60.0
Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    try:
        return await asyncio.wait_for(reader.read(), HUNG) == b""
    except ConnectionError:
        return True


async def drip(connections: list[Connection], line: bytes) -> None:
    """A header line (or a body byte) to each connection now and then, as slowloris does."""
    while True:
        for _reader, writer in connections:
            if not writer.is_closing():
                with contextlib.suppress(ConnectionError):
                    writer.write(line)
        await asyncio.sleep(0.2)


async def test_slow_and_silent_connections_are_closed_while_health_answers(
    settings: Settings,
) -> None:
    edged = msgspec.structs.replace(settings, header_timeout=1.0)
    async with running_api(edged, MemoryCache()) as api:
        port = api.settings.api_port
        silent = [await asyncio.open_connection("127.0.0.1", port) for _ in range(50)]
        slow = [await asyncio.open_connection("127.0.0.1", port) for _ in range(50)]
        for _reader, writer in slow:
            writer.write(b"GET /health/live HTTP/1.1\r\nHost: bridge\r\n")
        dripping = asyncio.create_task(drip(slow, b"X-Slow: 1\r\n"))
        try:
            async with httpx.AsyncClient(base_url=api.url) as http:
                assert (await http.get("/health/live")).status_code == 200
            outcomes = await asyncio.gather(*(closed_by_server(r) for r, _ in silent + slow))
            assert all(outcomes)
            async with httpx.AsyncClient(base_url=api.url) as http:
                assert (await http.get("/health/live")).status_code == 200
        finally:
            dripping.cancel()
            for _reader, writer in silent + slow:
                writer.close()


async def test_a_keep_alive_connection_must_send_its_next_head_in_time(
    settings: Settings,
) -> None:
    edged = msgspec.structs.replace(settings, header_timeout=1.0)
    async with running_api(edged, MemoryCache()) as api:
        reader, writer = await asyncio.open_connection("127.0.0.1", api.settings.api_port)
        writer.write(b"GET /health/live HTTP/1.1\r\nHost: bridge\r\n\r\n")
        status, _headers, _body = await read_response(reader)
        assert status == 200
        writer.write(b"GET /health/live HTTP/1.1\r\n")
        dripping = asyncio.create_task(drip([(reader, writer)], b"X-Slow: 1\r\n"))
        try:
            assert await closed_by_server(reader)
        finally:
            dripping.cancel()
            writer.close()


async def test_a_trickled_body_is_answered_408_and_the_connection_closed(
    settings: Settings,
) -> None:
    edged = msgspec.structs.replace(settings, body_timeout=1.0)
    async with running_api(edged, MemoryCache()) as api:
        reader, writer = await asyncio.open_connection("127.0.0.1", api.settings.api_port)
        writer.write(
            b"POST /api/booking-engine/auth/validate-token HTTP/1.1\r\nHost: bridge\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
        )
        dripping = asyncio.create_task(drip([(reader, writer)], b" "))
        try:
            status, headers, body = await asyncio.wait_for(read_response(reader), HUNG)
            assert status == 408 and headers["connection"] == "close"
            assert msgspec.json.decode(body)["error"] == "request_timeout"
            assert await closed_by_server(reader)
        finally:
            dripping.cancel()
            writer.close()


async def test_connections_past_the_bound_are_refused_with_503(settings: Settings) -> None:
    bounded = msgspec.structs.replace(settings, max_connections=5, header_timeout=HUNG)
    async with running_api(bounded, MemoryCache()) as api:
        port = api.settings.api_port
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(5)]
        try:
            async with httpx.AsyncClient(base_url=api.url) as http:
                refused = await http.get("/health/live")
            assert refused.status_code == 503
        finally:
            for _reader, writer in held:
                writer.close()
        async with httpx.AsyncClient(base_url=api.url) as http:
            for _ in range(600):
                if (await http.get("/health/live")).status_code == 200:
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("/health/live never answered 200 again")


async def live(base: str) -> int:
    async with httpx.AsyncClient(base_url=base) as http:
        return (await http.get("/health/live")).status_code


async def test_pms_bridge_run_closes_slow_and_silent_connections(db_url: str) -> None:
    """The same on the server `run` starts (uvloop's transports, not asyncio's)."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "API_PORT": str(port),
        "BRIDGE_JWT_SECRET": "test-secret-" + uuid.uuid4().hex,
        "BRIDGE_HEADER_TIMEOUT": "1",
    }
    env.pop("REDIS_URL", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridge.cli", "run", "--api-only", env=env
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            for _ in range(600):
                assert proc.returncode is None, "pms-bridge run exited"
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/health/live")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            silent = [await asyncio.open_connection("127.0.0.1", port) for _ in range(20)]
            slow = [await asyncio.open_connection("127.0.0.1", port) for _ in range(20)]
            for _reader, writer in slow:
                writer.write(b"GET /health/live HTTP/1.1\r\nHost: bridge\r\n")
            dripping = asyncio.create_task(drip(slow, b"X-Slow: 1\r\n"))
            try:
                # A new connection each time: an idle pooled one is itself closed after the
                # header timeout, which is no answer to whether the server still answers.
                assert await live(base) == 200
                outcomes = await asyncio.gather(*(closed_by_server(r) for r, _ in silent + slow))
                assert all(outcomes)
                assert await live(base) == 200
            finally:
                dripping.cancel()
                for _reader, writer in silent + slow:
                    writer.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), HUNG)
