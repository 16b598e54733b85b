"""The server's joined writes lose and reorder nothing: pipelined answers, `Connection: close`,
and a client that goes away mid-answer."""

from __future__ import annotations

import asyncio
import json

from bridge.cache.memory import MemoryCache
from bridge.config import Settings
from bridge.http import SEND_AT_ONCE_BYTES, _JoinedWrites
from tests.integration.api_server import running_api


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    status = int((await reader.readline()).split(b" ", 2)[1])
    headers: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers["content-length"]))
    return status, headers, body


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


async def test_every_way_to_write_or_end_keeps_the_order() -> None:
    """On a real loopback connection: collected writes leave before writelines' data and
    before the end of the stream, around a write large enough to leave at once; abort drops
    what waits."""
    received: asyncio.Queue[bytes] = asyncio.Queue()

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await received.put(await reader.read())  # everything up to EOF
        writer.close()

    server = await asyncio.start_server(peer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
    joined = _JoinedWrites(transport, loop)
    joined.write(b"head,")
    joined.writelines([b"body,", b"more,"])
    big = b"x" * SEND_AT_ONCE_BYTES
    joined.write(big)
    joined.write(b"tail")
    joined.write_eof()
    assert await asyncio.wait_for(received.get(), 10) == b"head,body,more," + big + b"tail"
    transport.close()

    transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
    joined = _JoinedWrites(transport, loop)
    joined.write(b"never sent")
    joined.abort()
    await asyncio.sleep(0)  # the step ends: nothing collected is sent after the abort
    assert await asyncio.wait_for(received.get(), 10) == b""
    server.close()
    await server.wait_closed()
