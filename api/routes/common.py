"""What every booking-engine route shares: its prefix, documented error responses, audit notes."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.openapi.datastructures import ResponseSpec

from api.auth.guard import call_state
from api.schemas import ErrorBody

PREFIX = "/api/booking-engine"

_DESCRIPTIONS = {
    400: "Malformed request (unknown field, wrong type, size out of bounds)",
    401: "Missing, unknown, expired or deactivated credentials",
    403: "The key lacks the scope this endpoint needs",
    404: "Not found (or another hotel's)",
    409: "Conflict with the current state",
    422: "Well-formed but not acceptable",
    429: "Rate limit exceeded; see Retry-After",
    503: "A dependency is unavailable",
}


def errors(*codes: int) -> dict[int, ResponseSpec]:
    """The {"error", "detail"} responses a route can give, for the OpenAPI document."""
    every = (400, 401, 403, 429, *codes)
    return {
        code: ResponseSpec(ErrorBody, description=_DESCRIPTIONS[code])
        for code in sorted(set(every))
    }


def note(
    request: Request[Any, Any, Any],
    action: str,
    entity_type: str,
    entity_id: str | None = None,
    summary: dict[str, Any] | None = None,
    result: dict[str, Any] | None = None,
) -> None:
    """What the audit log records for this call, beyond method, path and status."""
    call_state(request)["audit"] = {
        "action": action,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "request": summary or {},
        "response": result or {},
    }


def OPT(scope: str, rate: str | None = None) -> dict[str, Any]:  # noqa: N802
    return {"scope": scope, "rate": rate or scope}
