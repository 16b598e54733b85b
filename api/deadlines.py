"""The API server's connection deadline: a request head must arrive within a time limit.

A connection that sends nothing, or sends its request head a byte at a time (slowloris),
would otherwise hold a socket and a file descriptor for as long as it likes. This works on
asyncio's Protocol interface alone, around whatever HTTP protocol the server runs: from the
connection's start, and again from each answer's first write, the peer has `timeout` seconds
to finish a request head (the blank line that ends it); the body's own deadline is the ASGI
app's (api.middleware), since only the app knows when it has read a body.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any, cast

_HEAD_END = b"\r\n\r\n"
_CONTINUE = b"HTTP/1.1 100 "


class _Watched:
    """The transport the HTTP protocol writes to: an answer being written starts the wait
    for the next request head."""

    __slots__ = ("_guard", "_transport")

    def __init__(self, transport: asyncio.Transport, guard: HeadDeadline) -> None:
        self._transport = transport
        self._guard = guard

    def write(self, data: bytes) -> None:
        # `100 Continue` invites the body of the call in hand: its own deadline runs then.
        if not data.startswith(_CONTINUE):
            self._guard.answered()
        self._transport.write(data)

    def writelines(self, data: Iterable[bytes]) -> None:
        self._guard.answered()
        self._transport.writelines(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class HeadDeadline(asyncio.Protocol):
    """Closes a connection whose request head does not arrive within `timeout` seconds."""

    def __init__(self, inner: asyncio.Protocol, timeout: float) -> None:
        self._inner = inner
        self._timeout = timeout
        self._timer: asyncio.TimerHandle | None = None
        self._tail = b""  # the last bytes seen, for a head end split across reads
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without deriving from it.
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        self._arm()
        self._inner.connection_made(_Watched(transport, self))  # type: ignore[arg-type]

    def data_received(self, data: bytes) -> None:
        if self._timer is not None:
            seen = self._tail + data
            if _HEAD_END in seen:
                self._disarm()
            else:
                self._tail = seen[-(len(_HEAD_END) - 1) :]
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def answered(self) -> None:
        if self._timer is None:
            self._arm()

    def _arm(self) -> None:
        self._tail = b""
        self._timer = asyncio.get_running_loop().call_later(self._timeout, self._expired)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        # Nothing to flush: close. An answer still unread by a stalled peer: drop it.
        if transport.get_write_buffer_size():
            transport.abort()
        else:
            transport.close()


def with_head_deadline(
    protocol: Callable[..., asyncio.Protocol], timeout: float
) -> type[asyncio.Protocol]:
    """A protocol class the server instantiates as it would `protocol` (the same keyword
    arguments, passed on unseen), each connection under the head deadline."""

    def build(self: HeadDeadline, **kwargs: Any) -> None:
        HeadDeadline.__init__(self, protocol(**kwargs), timeout)

    return type("HeadDeadlined", (HeadDeadline,), {"__init__": build})
