"""The answering protocol loses, repeats and reorders no answer on a keep-alive connection."""

from __future__ import annotations

import asyncio
import itertools
import random
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import pytest
import uvicorn

from bridge.http import answering

Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

CONNECTIONS = 20
CALLS = 200
# Far beyond what a connection takes here (well under a second): only a lost answer, or a
# server that keeps open a connection it should close, gets near it.
CONNECTION_TIMEOUT = 20.0
# A POST body over uvicorn's HIGH_WATER_LIMIT (reading paused mid-body) whose echo is over
# SEND_AT_ONCE_BYTES (the joined writes sent before the loop's step ends).
LARGE_BODY = 70_000
STATUS = re.compile(rb"HTTP/1\.1 (\d{3}) [^\r\n]*\r\n")


def _call_id(scope: Message) -> bytes:
    query: bytes = scope["query_string"]
    return parse_qs(query.decode())["id"][0].encode()


def _immediate(scope: Message) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
    """/imm is answered here, /boom fails here; /decline and /slow are left to the app."""
    if scope["path"] == "/boom":
        raise RuntimeError("a bug in the fast path")
    if scope["path"] != "/imm":
        return None
    rid = _call_id(scope)
    body = b"imm " + rid
    return 200, [(b"content-length", b"%d" % len(body)), (b"x-id", rid)], body


async def _app(scope: Message, receive: Receive, send: Send) -> None:
    """Every path: "app ID"; /echo adds the request's body; ms=N in the query waits N ms."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    query = parse_qs(scope["query_string"].decode())
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if message["type"] != "http.request" or not message.get("more_body"):
            break
    if "ms" in query:
        await asyncio.sleep(int(query["ms"][0]) / 1000)
    rid = _call_id(scope)
    content = b"app " + rid + (b" " + body if scope["path"] == "/echo" else b"")
    headers = [(b"content-length", b"%d" % len(content)), (b"x-id", rid)]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    # For a HEAD uvicorn writes none of this body.
    await send({"type": "http.response.body", "body": content})


@asynccontextmanager
async def mix_server() -> AsyncIterator[int]:
    """uvicorn as the runner configures it, with the answering protocol asking `_immediate`."""
    # Bound here and handed over: no other process can take the port in between. IPPROTO_TCP
    # named, as create_server's own sockets have it: asyncio then sets TCP_NODELAY.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    # Inherited by the connections: the kernel takes 32 KiB of a connection's answers, not
    # the megabytes loopback grows to, so a client that stops reading pauses the server's
    # writes (before pause_writing, the protocol answers every GET it may).
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32 * 1024)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        _app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        http=answering(_immediate),
        ws="none",
        server_header=False,
        # Longer than a connection may wait: a server that closes after a closing call does
        # so because of that call, not because the connection went idle.
        timeout_keep_alive=60,
        # A connection whose call was lost never closes, and uvicorn's shutdown would wait for
        # it for ever: the test would hang instead of failing.
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        # uvicorn sets a flag, no event: poll it, for at most 10 s, or until serve() gave up.
        for _ in range(1000):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        assert server.started, "uvicorn did not start"
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await task
        sock.close()


@dataclass(frozen=True)
class Call:
    rid: str
    raw: bytes
    # What the body of its answer may be: a GET the protocol may answer is answered by the
    # app when the server's writes are paused, so both are right; every other call is the app's.
    bodies: tuple[bytes, ...]
    head: bool = False  # the answer has a head only
    closes: bool = False  # the server answers, then closes the connection


def _head(method: str, target: str, extra: str = "", version: str = "1.1") -> bytes:
    return f"{method} {target} HTTP/{version}\r\nHost: t\r\n{extra}\r\n".encode()


def _body(rng: random.Random, size: int) -> bytes:
    # Sometimes what looks like requests: a server that lost its place in the stream would
    # answer them.
    if rng.random() < 0.2:
        return (b"GET /imm?id=body HTTP/1.1\r\nHost: t\r\n\r\n" * (size // 38 + 1))[:size]
    return rng.randbytes(size)


def _post(rng: random.Random, rid: str, body: bytes, chunked: bool, extra: str = "") -> Call:
    if not chunked:
        raw = _head("POST", f"/echo?id={rid}", f"{extra}Content-Length: {len(body)}\r\n") + body
    else:
        raw = _head("POST", f"/echo?id={rid}", f"{extra}Transfer-Encoding: chunked\r\n")
        at = 0
        while at < len(body):
            piece = body[at : at + rng.randint(1, 3000)]
            raw += b"%x\r\n%s\r\n" % (len(piece), piece)
            at += len(piece)
        raw += b"0\r\n\r\n"
    return Call(rid, raw, (b"app " + rid.encode() + b" " + body,), closes="close" in extra)


def _plan_call(rng: random.Random, rid: str, large_bodies: bool) -> Call:
    imm, app = b"imm " + rid.encode(), b"app " + rid.encode()
    kind = rng.choices(
        ["imm", "padded", "decline", "slow", "boom", "post", "chunked", "length0", "head"],
        weights=[35, 5, 10, 10, 5, 15, 5, 7, 8],
    )[0]
    if kind == "imm":
        return Call(rid, _head("GET", f"/imm?id={rid}"), (imm, app))
    if kind == "padded":  # a long head, more often split across writes
        pad = f"X-Pad: {'p' * rng.randint(500, 3000)}\r\nAccept: */*\r\n"
        return Call(rid, _head("GET", f"/imm?id={rid}", pad), (imm, app))
    if kind == "decline":
        return Call(rid, _head("GET", f"/decline?id={rid}"), (app,))
    if kind == "slow":
        return Call(rid, _head("GET", f"/slow?id={rid}&ms={rng.randint(0, 20)}"), (app,))
    if kind == "boom":
        return Call(rid, _head("GET", f"/boom?id={rid}"), (app,))
    if kind in ("post", "chunked"):
        size = LARGE_BODY if large_bodies and rng.random() < 0.25 else rng.randint(0, 2000)
        return _post(rng, rid, _body(rng, size), chunked=kind == "chunked")
    if kind == "length0":  # a body header: the app's, though /imm
        return Call(rid, _head("GET", f"/imm?id={rid}", "Content-Length: 0\r\n"), (app,))
    target = rng.choice([f"/imm?id={rid}", f"/slow?id={rid}&ms={rng.randint(0, 20)}"])
    return Call(rid, _head("HEAD", target), (b"",), head=True)


ENDINGS = ["keep-alive", "close", "close-post", "http/1.0"]


def plan(rng: random.Random, conn: int, large_bodies: bool) -> list[Call]:
    calls = [_plan_call(rng, f"{conn}.{i}", large_bodies) for i in range(CALLS - 1)]
    rid = f"{conn}.{CALLS - 1}"
    app = (b"app " + rid.encode(),)
    ending = ENDINGS[conn % len(ENDINGS)]
    if ending == "keep-alive":
        calls.append(_plan_call(rng, rid, large_bodies))
    elif ending == "close":  # /imm, but a call that closes is the app's
        raw = _head("GET", f"/imm?id={rid}", "Connection: close\r\n")
        calls.append(Call(rid, raw, app, closes=True))
    elif ending == "close-post":
        calls.append(_post(rng, rid, _body(rng, 100), chunked=False, extra="Connection: close\r\n"))
    else:  # HTTP/1.0 does not keep the connection alive
        calls.append(Call(rid, _head("GET", f"/imm?id={rid}", version="1.0"), app, closes=True))
    return calls


@dataclass(frozen=True)
class Answer:
    rid: str
    status: int
    body: bytes
    connection: str


@dataclass
class Outcome:
    answers: list[Answer] = field(default_factory=list)
    error: str | None = None
    # What came after the last answer, until the server closed: b"" is right.
    trailing: bytes | None = None
    # Set at each answer, for a writer that waits for one.
    answered: asyncio.Event = field(default_factory=asyncio.Event)


class OutOfStep(ValueError):
    """An answer where another call's was due."""


async def read_answer(reader: asyncio.StreamReader, head: bool) -> Answer:
    """One answer, strictly: anything that is not where an answer's start should be fails."""
    line = await reader.readuntil(b"\r\n")
    status = STATUS.fullmatch(line)
    if status is None:
        raise ValueError(f"not a status line: {line[:80]!r}")
    headers: dict[str, str] = {}
    while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
        name, colon, value = line.decode("latin-1").partition(":")
        if not colon:
            raise ValueError(f"not a header: {line[:80]!r}")
        headers[name.strip().lower()] = value.strip()
    length = int(headers["content-length"])  # every answer here has one
    body = b"" if head else await reader.readexactly(length)
    return Answer(headers.get("x-id", "?"), int(status[1]), body, headers.get("connection", ""))


async def _read_all(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    calls: list[Call],
    outcome: Outcome,
    rng: random.Random | None,
) -> None:
    for call in calls:
        outcome.answers.append(await read_answer(reader, call.head))
        outcome.answered.set()
        if outcome.answers[-1].rid != call.rid:
            # What follows would not be read as what it is (a HEAD's answer has no body).
            raise OutOfStep(f"{outcome.answers[-1].rid} answered where {call.rid} was due")
        if rng is not None and rng.random() < 0.03:
            # A slow reader: the server's writes back up until they pause.
            await asyncio.sleep(rng.uniform(0.01, 0.04))
    if not calls[-1].closes:
        # Every call is answered: the server closes on the end of the stream, and whatever
        # it sent before that would be an answer twice.
        writer.write_eof()
    outcome.trailing = await reader.read()


async def _write_all(
    writer: asyncio.StreamWriter,
    calls: list[Call],
    outcome: Outcome,
    rng: random.Random,
    lockstep: float,
) -> None:
    data = b"".join(call.raw for call in calls)
    starts = list(itertools.accumulate(len(call.raw) for call in calls[:-1]))
    # Before some calls, wait until all earlier ones are answered: those find the connection
    # idle, and the protocol answers them as they are read, not from uvicorn's pipeline.
    waits = {start: i + 1 for i, start in enumerate(starts) if rng.random() < lockstep}
    at = 0
    while at < len(data):
        # Pieces of a few bytes (cut inside a head or a body) up to several calls at once.
        size = rng.choice([rng.randint(1, 16), rng.randint(17, 400), rng.randint(400, 8000)])
        size = min([size, *(start - at for start in waits if start > at)])
        writer.write(data[at : at + size])
        at += size
        await writer.drain()
        # Bounded by the connection's timeout; each pass is one more answer read.
        while len(outcome.answers) < waits.get(at, 0):
            outcome.answered.clear()
            await outcome.answered.wait()
        pause = rng.random()
        if pause < 0.6:
            await asyncio.sleep(0)
        elif pause < 0.7:
            await asyncio.sleep(rng.uniform(0.0005, 0.003))
        # Else the next piece follows at once, on the server's side often in the same read.


async def run_connection(port: int, seed: int, conn: int) -> tuple[list[Call], Outcome]:
    rng = random.Random(seed * 1000 + conn)
    # A few connections with a small receive window, a slow reader and large bodies: the
    # server's writes pause, and the protocol leaves its GETs to the app meanwhile.
    narrow = conn % 5 == 0
    calls = plan(rng, conn, large_bodies=narrow)
    read_rng = random.Random(rng.random()) if narrow else None
    outcome = Outcome()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    if narrow:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    # The reader's own buffer, small too (a head line is at most 3 KiB here).
    reader, writer = await asyncio.open_connection(sock=sock, limit=8192 if narrow else 2**16)
    # A third of the connections often wait for their answers; the rest mostly pipeline.
    lockstep = 0.5 if conn % 3 == 1 else 0.02
    tasks = [
        asyncio.create_task(_write_all(writer, calls, outcome, rng, lockstep)),
        asyncio.create_task(_read_all(reader, writer, calls, outcome, read_rng)),
    ]
    try:
        async with asyncio.timeout(CONNECTION_TIMEOUT):
            await asyncio.gather(*tasks)
    except TimeoutError:
        if len(outcome.answers) == len(calls):
            outcome.error = "the server kept the connection open after the last answer"
        else:
            outcome.error = f"timed out after {len(outcome.answers)} answers"
    except (ValueError, KeyError, EOFError, asyncio.LimitOverrunError, ConnectionError) as e:
        # A head that does not parse, an end of stream or a reset before every answer came.
        outcome.error = f"after {len(outcome.answers)} answers: {e!r}"
    finally:
        for task in tasks:
            task.cancel()
        writer.close()
    return calls, outcome


def problems(conn: int, calls: list[Call], outcome: Outcome) -> list[str]:
    sent, got = [c.rid for c in calls], [a.rid for a in outcome.answers]
    found = []
    if outcome.error is not None:
        found.append(outcome.error)
    if got != sent:
        at = next((i for i, (s, g) in enumerate(zip(sent, got, strict=False)) if s != g), None)
        at = min(len(sent), len(got)) if at is None else at
        found.append(f"answers {got[at : at + 5]} where {sent[at : at + 5]} were due (#{at})")
    for call, answer in zip(calls, outcome.answers, strict=False):
        if answer.status != 200 or answer.body not in call.bodies:
            found.append(f"{call.rid}: {answer.status} {answer.body[:60]!r}")
    closing = calls[-1].closes and len(outcome.answers) == len(calls)
    if closing and outcome.answers[-1].connection != "close":
        found.append("the last answer does not say `connection: close`")
    if outcome.trailing:
        found.append(f"more after the last answer: {outcome.trailing[:80]!r}")
    return [f"connection {conn}: {p}" for p in found]


async def run_round(seed: int) -> list[tuple[list[Call], Outcome]]:
    async with mix_server() as port:
        return await asyncio.gather(
            *(run_connection(port, seed, conn) for conn in range(CONNECTIONS))
        )


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_mixed_calls_on_many_connections_are_each_answered_once_in_order(
    seed: int, loop: str
) -> None:
    """Each connection sends CALLS calls of every kind, in random pieces: its answers are
    its calls' in order, each once, each whole, and a closing call closes it. The plans are
    seeded; how the connections interleave is up to the event loop (uvloop's in the runner)."""
    if loop == "uvloop":
        new_loop = pytest.importorskip("uvloop").new_event_loop
    else:
        new_loop = asyncio.new_event_loop

    def run() -> list[tuple[list[Call], Outcome]]:
        with asyncio.Runner(loop_factory=new_loop) as runner:
            return runner.run(run_round(seed))

    # In a thread of its own: a Runner in the main thread would leave it no current event
    # loop, for the tests after this one.
    with ThreadPoolExecutor(1) as thread:
        results = thread.submit(run).result()
    found = [p for conn, (calls, out) in enumerate(results) for p in problems(conn, calls, out)]
    assert not found, "\n".join(found[:20])
    bodies = [answer.body for _, out in results for answer in out.answers]
    # The fast path ran at all: else this checked only uvicorn's own pipelining.
    assert sum(body.startswith(b"imm ") for body in bodies) > CONNECTIONS * CALLS // 10
