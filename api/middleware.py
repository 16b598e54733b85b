"""ASGI middleware around every call: rate-limit headers, request metrics and the audit entry."""

from __future__ import annotations

import time
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from api.audit import AuditEntry, AuditWriter, now
from api.routes.common import PREFIX
from metrics.definitions import api_latency, api_requests


def _route(scope: Scope) -> str:
    handler = scope.get("route_handler")
    paths = getattr(handler, "paths", None)
    return sorted(paths)[0] if paths else "unmatched"


def _outcome(status: int) -> str:
    return "ok" if status < 400 else "rejected" if status < 500 else "failed"


def wrap(app: ASGIApp, audit: AuditWriter | None) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        started = time.perf_counter()
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                decision = state.get("ratelimit")
                if decision is not None:
                    headers = [
                        h for h in message.get("headers", []) if h[0].lower() != b"retry-after"
                    ]
                    message["headers"] = [*headers, *decision.headers()]
            await send(message)

        try:
            await app(scope, receive, send_with_headers)
        finally:
            route, method = _route(scope), str(scope.get("method", "GET"))
            api_requests.labels(route=route, method=method, status=str(status)).inc()
            api_latency.labels(route=route, method=method).observe(time.perf_counter() - started)
            if audit is not None and scope["path"].startswith(PREFIX):
                audit.record(_entry(scope, state, route, method, status))

    return middleware


def _entry(scope: Scope, state: dict[str, Any], route: str, method: str, status: int) -> AuditEntry:
    notes: dict[str, Any] = state.get("audit") or {}
    principal = state.get("principal")
    hotel_id = principal.hotel_id if principal is not None else state.get("hotel_id")
    request: dict[str, Any] = {"method": method, "route": route, **notes.get("request", {})}
    if principal is not None:
        request["key_id"] = principal.key_id
    error = state.get("error")
    return AuditEntry(
        hotel_id=hotel_id,
        action=notes.get("action") or f"{method} {route}",
        entity_type=notes.get("entity_type") or "request",
        entity_id=notes.get("entity_id"),
        request_data=request,
        response_data={"status_code": status, **notes.get("response", {})},
        status=_outcome(status),
        error_message=error,
        created_at=now(),
    )
