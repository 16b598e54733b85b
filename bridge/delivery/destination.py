"""Where a webhook may go: https to a public address, checked on the address connected to.

A hotel's `booking_engine_url` is data anyone with write access to its configuration row
controls, so the bridge must not become a way into the network it runs in. The host is
resolved here and every address it has must be public (no loopback, private, link-local,
shared, reserved or cloud-metadata address); the connection is then made to one of those
very addresses, so a name that resolves to something else a moment later (DNS rebinding)
gains nothing. Plain http is refused, except to loopback addresses when
BRIDGE_WEBHOOK_ALLOW_LOOPBACK_HTTP is set (the demo's and the tests' local receiver).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class DestinationRefused(Exception):
    """The URL or the address it resolves to is not one a webhook may be sent to; the message
    names the class of refusal, never anything the destination answered."""


def refusal(address: IPAddress, *, loopback_only: bool) -> str | None:
    """Why `address` may not be connected to, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if loopback_only:
        return None if address.is_loopback else "plain http goes to loopback addresses only"
    if address.is_loopback:
        return "loopback address"
    if address.is_link_local:
        return "link-local address (cloud metadata)"
    if address.is_private:
        return "private address"
    if not address.is_global or address.is_multicast:
        return "non-public address"
    return None


async def resolve(host: str, port: int) -> list[IPAddress]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).partition("%")[0])
        if address not in found:
            found.append(address)
    return found


class _CheckedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with the host resolved and checked before connecting."""

    def __init__(self, *, loopback_only: bool) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._loopback_only = loopback_only

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await resolve(host, port)
        except (OSError, ValueError):
            raise httpcore.ConnectError(f"cannot resolve {host}") from None
        # Every address, not only the first: a name answering with a public and a private
        # address would otherwise reach the private one on a retry.
        for address in addresses:
            why = refusal(address, loopback_only=self._loopback_only)
            if why is not None:
                raise DestinationRefused(why)
        last: Exception = httpcore.ConnectError(f"no address for {host}")
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                last = exc
        raise last

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _httpx_error(exc: httpcore.TimeoutException | httpcore.NetworkError | Exception) -> Exception:
    # httpcore and httpx name their errors alike; the worker knows httpx's.
    kind = getattr(httpx, type(exc).__name__, None)
    if isinstance(kind, type) and issubclass(kind, httpx.TransportError):
        return kind(type(exc).__name__)
    return httpx.TransportError(type(exc).__name__)


class _Stream(httpx.AsyncByteStream):
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    async def __aiter__(self) -> Any:
        try:
            async for part in self._stream:
                yield part
        except httpcore.TimeoutException as exc:
            raise _httpx_error(exc) from None
        except (httpcore.NetworkError, httpcore.ProtocolError) as exc:
            raise _httpx_error(exc) from None

    async def aclose(self) -> None:
        await self._stream.aclose()


class CheckedTransport(httpx.AsyncBaseTransport):
    """An httpx transport sending https to public addresses (and, when allowed, http to
    loopback ones) and nowhere else. No proxy from the environment: it would connect instead."""

    def __init__(self, *, allow_loopback_http: bool, max_connections: int) -> None:
        self._allow_loopback_http = allow_loopback_http
        self._pools = {
            scheme: httpcore.AsyncConnectionPool(
                max_connections=max_connections,
                network_backend=_CheckedBackend(loopback_only=scheme == b"http"),
            )
            for scheme in (b"https", b"http")
        }

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        scheme = request.url.raw_scheme
        if scheme == b"http" and not self._allow_loopback_http:
            raise DestinationRefused("plain http is refused; use https")
        pool = self._pools.get(scheme)
        if pool is None:
            raise DestinationRefused("only https URLs are delivered to")
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            answer = await pool.handle_async_request(core)
        except httpcore.TimeoutException as exc:
            raise _httpx_error(exc) from None
        except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as exc:
            raise _httpx_error(exc) from None
        return httpx.Response(
            status_code=answer.status,
            headers=answer.headers,
            stream=_Stream(answer.stream),
            extensions=answer.extensions,
        )

    async def aclose(self) -> None:
        for pool in self._pools.values():
            await pool.aclose()
