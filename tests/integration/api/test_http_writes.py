"""The server as `run` configures it loses and reorders nothing: pipelined answers,
`Connection: close`, a client that goes away mid-answer."""

from __future__ import annotations

import asyncio
import json

from bridge.cache.memory import MemoryCache
from bridge.config import Settings
from tests.support.api_server import read_response, running_api


async def test_pipelined_requests_are_answered_in_order(settings: Settings) -> None:
    async with running_api(settings, MemoryCache()) as api:
        host, port = api.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        paths = ["/health/live", "/nowhere", "/health/live", "/schema/openapi.json"]
        writer.write(b"".join(f"GET {p} HTTP/1.1\r\nHost: t\r\n\r\n".encode() for p in paths))
        answers = [await read_response(reader) for _ in paths]
        writer.close()
        await writer.wait_closed()
    assert [status for status, _, _ in answers] == [200, 404, 200, 200]
    assert json.loads(answers[0][2]) == json.loads(answers[2][2])
    assert json.loads(answers[3][2])["openapi"].startswith("3.")


async def test_connection_close_gets_the_whole_answer_first(settings: Settings) -> None:
    async with running_api(settings, MemoryCache()) as api:
        host, port = api.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"GET /schema/openapi.json HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        status, headers, body = await read_response(reader)
        assert await reader.read() == b""  # then the server closed the connection
        writer.close()
        # A client that sends a request and leaves at once costs the server nothing lasting.
        _, gone = await asyncio.open_connection(host, int(port))
        gone.write(b"GET /schema/openapi.json HTTP/1.1\r\nHost: t\r\n\r\n")
        gone.transport.abort()
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"GET /health/live HTTP/1.1\r\nHost: t\r\n\r\n")
        after, _, _ = await read_response(reader)
        writer.close()
    assert status == 200 and headers["connection"] == "close"
    assert "server" not in headers and "date" in headers  # no `server: uvicorn`
    assert len(body) == int(headers["content-length"]) > 10_000
    assert after == 200
