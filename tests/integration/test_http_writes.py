"""The server's joined writes and protocol answers lose and reorder nothing: pipelined
answers, `Connection: close`, a client that goes away mid-answer, keep-alive's idle timer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

from bridge.cache.memory import MemoryCache
from bridge.config import Settings
from bridge.http import SEND_AT_ONCE_BYTES, _JoinedWrites, answering
from tests.integration.api_server import free_port, read_response, running_api


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


async def _toy_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The ASGI side of the protocol tests: /slow?SECONDS answers "slow" after that long."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await asyncio.sleep(float(scope["query_string"] or b"0"))
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"4")]}
    )
    await send({"type": "http.response.body", "body": b"slow"})


def _toy_immediate(scope: dict[str, Any]) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
    """/fast?N is answered at the protocol with N; /boom fails there; the rest go to the app."""
    if scope["path"] == "/boom":
        raise RuntimeError("a bug in the fast path")
    if scope["path"] != "/fast":
        return None
    body = scope["query_string"]
    return 200, [(b"content-length", b"%d" % len(body))], body


@asynccontextmanager
async def toy_server() -> AsyncIterator[int]:
    """uvicorn as the runner configures it, with the answering protocol, and a keep-alive
    timeout of 1 s (5 s in the runner) to keep the test short."""
    port = free_port()
    config = uvicorn.Config(
        _toy_app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        http=answering(_toy_immediate),
        ws="none",
        timeout_keep_alive=1,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:  # noqa: ASYNC110 (uvicorn sets a flag, no event)
            await asyncio.sleep(0.02)
        yield port
    finally:
        server.should_exit = True
        await task


async def test_pipelined_protocol_answers_behind_an_asgi_call_come_in_order() -> None:
    """Two thousand calls the protocol answers, in one write behind one the app answers: each
    answered once that one is, in order, however many wait (each used to start the next one
    frame deeper, and the 330th ended the connection with a RecursionError)."""
    async with toy_server() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        calls = [b"GET /slow?0.1 HTTP/1.1\r\nHost: t\r\n\r\n"]
        calls += [b"GET /fast?%d HTTP/1.1\r\nHost: t\r\n\r\n" % i for i in range(2000)]
        calls += [b"GET /boom HTTP/1.1\r\nHost: t\r\n\r\n", b"GET /fast?end HTTP/1.1\r\n\r\n"]
        writer.write(b"".join(calls))
        bodies = [(await read_response(reader))[2] for _ in calls]
        writer.close()
    expected = [b"slow", *(b"%d" % i for i in range(2000)), b"slow", b"end"]
    assert bodies == expected  # /boom failed at the protocol: the app answered it


async def test_a_call_behind_a_protocol_answer_outlives_the_keep_alive_timeout() -> None:
    """An answer at the protocol arms the idle timer of keep-alive. A slower call read with it
    must not be cut by that timer (it closed the connection mid-call: the answer was lost)."""
    async with toy_server() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"GET /fast?1 HTTP/1.1\r\nHost: t\r\n\r\nGET /slow?1.5 HTTP/1.1\r\nHost: t\r\n\r\n"
        )
        answers = [await read_response(reader) for _ in range(2)]
        writer.close()
    assert [body for _, _, body in answers] == [b"1", b"slow"]
