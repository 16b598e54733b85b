"""ASGI around every call: the body's deadline, rate-limit headers, request metrics, the audit
entry and the count of failed authentications."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import Any

from litestar.enums import ScopeType
from litestar.types import (
    ASGIApp,
    Message,
    Receive,
    ReceiveMessage,
    Scope,
    Send,
)

from api.audit import AuditWriter, now
from api.call import Call, call_of
from api.errors import ApiError
from api.paths import PREFIX
from api.ratelimit import FailedAuth
from bridge.audit_log import AuditEntry
from metrics.definitions import api_latency, api_requests

log = logging.getLogger("pms_bridge.api")


def _route(scope: Scope) -> str:
    handler = scope.get("route_handler")
    paths = getattr(handler, "paths", None)
    return sorted(paths)[0] if paths else "unmatched"


def _outcome(status: int) -> str:
    return "ok" if status < 400 else "rejected" if status < 500 else "failed"


@functools.lru_cache(maxsize=4096)
def _series(route: str, method: str, status: int) -> tuple[Any, Any]:
    # Looking up a labelled child takes a lock and a tuple of strings: once per series.
    requests = api_requests.labels(route=route, method=method, status=str(status))
    return requests, api_latency.labels(route=route, method=method)


def _account(
    scope: Scope,
    call: Call,
    route: str,
    status: int,
    started: float,
    audit: AuditWriter | None,
) -> None:
    """The call's metrics and audit entry."""
    method = str(scope.get("method", "GET"))
    requests, latency = _series(route, method, status)
    requests.inc()
    latency.observe(time.perf_counter() - started)
    if audit is not None and scope["path"].startswith(PREFIX):
        audit.record(_entry(scope, call, route, method, status))


def body_deadline(receive: Receive, timeout: float) -> Receive:
    """`receive`, with the whole body due within `timeout` seconds of the call's start: a
    client trickling it in is answered 408 and its connection closed."""
    deadline = time.monotonic() + timeout
    complete = False

    async def receive_in_time() -> ReceiveMessage:
        nonlocal complete
        if complete:
            return await receive()
        try:
            message = await asyncio.wait_for(receive(), max(deadline - time.monotonic(), 0.0))
        except TimeoutError:
            raise ApiError(
                408,
                "request_timeout",
                f"the request body did not arrive within {timeout:g}s",
                headers={"Connection": "close"},
            ) from None
        complete = message["type"] != "http.request" or not message.get("more_body", False)
        return message

    return receive_in_time


def client_address(scope: Scope) -> str:
    """The caller's address: the peer's, or the one a trusted proxy forwarded (the server
    believes X-Forwarded-For from BRIDGE_TRUSTED_PROXIES only)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def wrap(
    app: ASGIApp, audit: AuditWriter | None, body_timeout: float, failed_auth: FailedAuth | None
) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        receive = body_deadline(receive, body_timeout)
        call = call_of(scope)
        started = time.perf_counter()
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                decision = call.ratelimit
                if decision is not None:
                    headers = message.get("headers", [])
                    if not decision.allowed:
                        # The refusal's own Retry-After replaces the 429's copy; any other
                        # answer (a 503's) keeps its own.
                        headers = [h for h in headers if h[0].lower() != b"retry-after"]
                    message["headers"] = [*headers, *decision.headers()]
            await send(message)

        try:
            await app(scope, receive, send_with_headers)
        finally:
            _account(scope, call, _route(scope), status, started, audit)
        if status == 401 and failed_auth is not None and scope["path"].startswith(PREFIX):
            await failed_auth.failed(client_address(scope))

    return middleware


def _entry(scope: Scope, call: Call, route: str, method: str, status: int) -> AuditEntry:
    notes = call.audit
    principal = call.principal
    hotel_id = principal.hotel_id if principal is not None else call.hotel_id
    request: dict[str, Any] = {"method": method, "route": route}
    if notes is not None:
        request.update(notes.request)
    if principal is not None:
        request["key_id"] = principal.key_id
    else:
        request["client"] = client_address(scope)
    error = call.error
    return AuditEntry(
        hotel_id=hotel_id,
        action=notes.action if notes else f"{method} {route}",
        entity_type=notes.entity_type if notes else "request",
        entity_id=notes.entity_id if notes else None,
        request_data=request,
        response_data={"status_code": status, **(notes.response if notes else {})},
        status=_outcome(status),
        error_message=error,
        created_at=now(),
    )
