"""uvicorn's httptools protocol sending each response in one socket write instead of two.

uvicorn writes a response's head when the app sends `http.response.start` and its body on
`http.response.body`: two send() calls, two TCP segments and two wake-ups of the client for
every small JSON answer. Here the writes made in one step of the event loop are joined and
sent at the end of that step, so a head and the body that follows it leave together.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

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
