"""A local stand-in for the booking engine's webhook, for the demo and the tests.

It verifies each request's Standard Webhooks signature (webhook-id, webhook-timestamp,
webhook-signature, within the libraries' 5-minute tolerance) with the hotel's secret,
remembers every request, and answers as a script says (a status code, or None to never
answer, which the sender sees as a timeout). A key acknowledged once is acknowledged again
without counting twice, as a booking engine honouring Idempotency-Key would.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import msgspec

from bridge.delivery.signing import (
    IDEMPOTENCY_HEADER,
    LEGACY_SIGNATURE_HEADER,
    verify,
    verify_standard,
)

_REASONS = {
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    404: "Not Found",
    500: "Error",
    503: "Unavailable",
}


class Received(msgspec.Struct, frozen=True):
    """One request as it arrived."""

    key: str | None
    signature_ok: bool
    body: bytes
    hotel_id: int | None
    booking_id: str | None
    operation: str | None
    # The request's headers, names in lower case.
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    # The X-PMS-Signature beside the Standard Webhooks ones.
    legacy_signature_ok: bool = False


# (request, how many times this key was seen before) -> status to answer, or None to hang.
Script = Callable[[Received, int], int | None]


def always_ok(_request: Received, _seen: int) -> int | None:
    return 200


class Receiver:
    """An asyncio HTTP/1.1 server on 127.0.0.1 that plays the booking engine's webhook."""

    def __init__(self, secrets: dict[int, str], script: Script = always_ok) -> None:
        self.secrets = secrets
        self.script = script
        self.requests: list[Received] = []
        self.acknowledged: dict[str, int] = {}  # key -> 2xx answers given
        self.applied: list[Received] = []  # first acknowledged request of each key, in order
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[Any]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._closing = asyncio.Event()
        # While a gate is set, answers wait for it: lets a test hold requests in flight.
        self.gate: asyncio.Event | None = None
        self.in_flight = 0
        self.max_in_flight = 0
        self.url = ""

    async def start(self, port: int = 0) -> str:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", port)
        bound = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{bound}/webhook"
        return self.url

    async def go_down(self) -> None:
        """Stop listening and drop every connection, keeping what was received: the booking
        engine is down (connections refused) until `start` is called again on the same port."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def stop(self) -> None:
        # Handlers are ended by closing their connections, not cancelled: Python 3.11's
        # stream callback reports a cancelled handler as an error.
        self._closing.set()
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def _parse(self, headers: dict[str, str], body: bytes) -> Received:
        hotel_id: int | None = None
        booking_id: str | None = None
        operation: str | None = None
        try:
            event = msgspec.json.decode(body)
        except msgspec.DecodeError:
            event = None
        if isinstance(event, dict):
            hotel_id = event.get("hotel_id")
            operation = event.get("operation")
            reservation = event.get("reservation")
            if isinstance(reservation, dict):
                booking_id = reservation.get("id")
        secret = self.secrets.get(hotel_id) if isinstance(hotel_id, int) else None
        signed = secret is not None and verify_standard(secret, headers, body, time.time())
        legacy = secret is not None and verify(
            secret, body, headers.get(LEGACY_SIGNATURE_HEADER.lower())
        )
        return Received(
            headers.get(IDEMPOTENCY_HEADER.lower()),
            signed,
            body,
            hotel_id,
            booking_id,
            operation,
            headers,
            legacy,
        )

    def _answer(self, request: Received) -> tuple[int | None, bytes]:
        self.requests.append(request)
        if not request.signature_ok:
            return 400, b'{"error": "bad signature"}'
        key = request.key or ""
        seen = sum(1 for r in self.requests[:-1] if r.key == request.key)
        status = self.script(request, seen)
        if status is not None and 200 <= status < 300:
            if key not in self.acknowledged:
                self.applied.append(request)
            self.acknowledged[key] = self.acknowledged.get(key, 0) + 1
            engine_id = f"be-{(request.booking_id or '')[:8]}"
            return status, msgspec.json.encode({"received": True, "booking_engine_id": engine_id})
        return status, b'{"error": "scripted failure"}'

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        self._writers.add(writer)
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                headers: dict[str, str] = {}
                while True:
                    raw = await reader.readline()
                    if raw in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = raw.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                try:
                    status, reply = self._answer(self._parse(headers, body))
                    if status is None:
                        await self._closing.wait()  # never answer: the sender times out
                        return
                    if self.gate is not None:
                        await self.gate.wait()
                finally:
                    self.in_flight -= 1
                head = (
                    f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(reply)}\r\n\r\n"
                )
                writer.write(head.encode() + reply)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            if task is not None:
                self._handlers.discard(task)
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()
