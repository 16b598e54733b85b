"""uvicorn's httptools protocol, sending each response in one socket write and the
answers the app has at hand without an ASGI cycle.

uvicorn writes a response's head when the app sends `http.response.start` and its body on
`http.response.body`: two send() calls, two TCP segments and two wake-ups of the client for
every small JSON answer. Here the writes made in one step of the event loop are joined and
sent at the end of that step, so a head and the body that follows it leave together.

An ASGI cycle (a task, the receive and send calls and their checks) costs more than the
answer of a memoized read. Before it starts one, the protocol asks the app's `Immediate`
for an answer it can give without waiting; only a plain keep-alive GET with no body is asked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

Headers = list[tuple[bytes, bytes]]
# The app's answer to a call (its ASGI scope; each framework types that its own way), headers
# without the server's own (date); or None: the call gets an ASGI cycle.
Immediate = Callable[[Any], tuple[int, Headers, bytes] | None]
_BODY_HEADERS = (b"content-length", b"transfer-encoding", b"expect")

log = logging.getLogger("pms_bridge.api")

# More than a response head and a typical JSON answer: sent without waiting for the step's end.
SEND_AT_ONCE_BYTES = 64 * 1024


class _JoinedWrites:
    """Wraps a transport: write() collects, the loop's next step sends what was collected.
    Every other way of writing or ending the stream first sends what is collected, so
    nothing overtakes it; a large amount is sent at once, so the transport's own flow
    control (pause_writing) still sees it."""

    __slots__ = ("_loop", "_pending", "_size", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._size = 0

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self._send)
        self._pending.append(data)
        self._size += len(data)
        if self._size >= SEND_AT_ONCE_BYTES:
            self._send()

    def _send(self) -> None:
        pending, self._pending, self._size = self._pending, [], 0
        if pending and not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def writelines(self, data: Iterable[bytes]) -> None:
        for chunk in data:
            self.write(chunk)

    def write_eof(self) -> None:
        self._send()
        self._transport.write_eof()

    def close(self) -> None:
        # uvicorn closes right after writing a "connection: close" response.
        self._send()
        self._transport.close()

    def abort(self) -> None:
        self._pending, self._size = [], 0
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class JoinedWritesProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(cast(asyncio.Transport, _JoinedWrites(transport, self.loop)))


class AnsweringProtocol(JoinedWritesProtocol):
    """Asks `immediate` (set by `answering`) before it starts an ASGI cycle for a call."""

    immediate: Immediate | None = None
    # A pipelined call that the end of an answer handed on while that answer's loop runs.
    _handed_on: tuple[RequestResponseCycle, Any] | None = None
    _answering = False

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        if self._answering:
            # From on_response_complete below: the loop takes it, not one frame deeper per
            # pipelined call.
            self._handed_on = (cycle, app)
            return
        while self._answered(cycle, app):
            self._answering = True
            try:
                # As the end of an ASGI cycle does: keep-alive timer, or the next pipelined
                # call, and reading resumed.
                self.on_response_complete()
            finally:
                self._answering = False
            if self._handed_on is None:
                return
            (cycle, app), self._handed_on = self._handed_on, None
        # An answer of this same read may have armed the keep-alive timer, which uvicorn never
        # lets run while a call is being served: it would close the connection mid-call.
        self._unset_keepalive_if_required()
        super()._start_asgi_task(cycle, app)

    def _answered(self, cycle: RequestResponseCycle, app: Any) -> bool:
        scope = cycle.scope
        # Only what the app answers in full from the head alone, on a connection that stays
        # open and takes writes: anything else gets its ASGI cycle, as uvicorn would give it.
        if (
            self.immediate is None
            or app is not self.app  # uvicorn's 503 over its concurrency limit
            or scope["method"] != "GET"
            or not cycle.keep_alive
            or cycle.access_log
            or self.flow.write_paused
            or any(name in _BODY_HEADERS for name, _ in scope["headers"])
        ):
            return False
        try:
            answer = self.immediate(scope)
        except Exception:
            # Raised inside the HTTP parser's callback it would become a 400: the app answers.
            log.exception("answering %s at the protocol failed; the app answers", scope["path"])
            return False
        if answer is None:
            return False
        status, headers, body = answer
        content = [STATUS_LINE[status]]
        for name, value in [*self.server_state.default_headers, *headers]:
            content.extend((name, b": ", value, b"\r\n"))
        content.extend((b"\r\n", body))
        self.transport.write(b"".join(content))
        cycle.response_started = cycle.response_complete = True
        return True


def answering(immediate: Immediate) -> type[AnsweringProtocol]:
    """The protocol class for one server, asking that app's `immediate`."""
    return type("Answering", (AnsweringProtocol,), {"immediate": staticmethod(immediate)})
