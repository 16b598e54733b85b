"""What every booking-engine route shares: its prefix, documented error responses, audit notes."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Annotated, Any, TypeVar

import msgspec
from litestar import Request
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import PathParameter, QueryParameter

from api.call import AuditNotes, call_of
from api.errors import ApiError
from api.schemas import PLAN_KEY_PATTERN, ErrorBody
from bridge.horizon import Horizon

Q = TypeVar("Q")

# Ids are PostgreSQL integers: one out of that range is a 400 here, not a database error.
PathId = Annotated[int, PathParameter(ge=1, le=2_147_483_647)]
QueryId = Annotated[int | None, QueryParameter(ge=1, le=2_147_483_647)]
QueryPlanKey = Annotated[str | None, QueryParameter(max_length=24, pattern=PLAN_KEY_PATTERN)]

_DESCRIPTIONS = {
    400: "Malformed request (unknown field, wrong type, size out of bounds)",
    401: "Missing, unknown, expired or deactivated credentials",
    403: "The key lacks the scope this endpoint needs",
    404: "Not found (or another hotel's)",
    409: "Conflict with the current state",
    413: "The body is larger than 64 KiB",
    415: "The body is not sent as application/json",
    422: "Well-formed but not acceptable",
    429: "Rate limit exceeded; see Retry-After",
    503: "The PMS database or the cache is unreachable; retry after Retry-After",
}


# What a route that takes a JSON body can answer besides its own errors.
BODY = (413, 415)


def errors(*codes: int, scoped: bool = True) -> dict[int, ResponseSpec]:
    """The {"error", "detail"} responses a route can give, for the OpenAPI document; a route
    that needs no scope (`scoped=False`) never answers 403."""
    every = (400, 401, *((403,) if scoped else ()), 429, 503, *codes)
    return {
        code: ResponseSpec(ErrorBody, description=_DESCRIPTIONS[code], generate_examples=False)
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
    call_of(request.scope).audit = AuditNotes(
        action, entity_type, entity_id, summary or {}, result or {}
    )


def OPT(scope: str, rate: str | None = None, *, query: bool = False) -> dict[str, Any]:
    """A protected route's scope and rate class; `query`: it reads a query string (with
    parse_query), which other routes refuse."""
    return {"scope": scope, "rate": rate or scope, "query": query}


def parse_query(request: Request[Any, Any, Any], kind: type[Q]) -> Q:
    """The query string as a Struct: unknown parameters and bad values are 400."""
    pairs = list(request.query_params.multi_items())
    raw = dict(pairs)
    if len(raw) < len(pairs):
        twice = sorted(k for k, n in Counter(k for k, _ in pairs).items() if n > 1)
        raise ApiError(400, "validation_failed", f"query: {', '.join(twice)} given more than once")
    try:
        return msgspec.convert(raw, kind, strict=False)
    except msgspec.ValidationError as exc:
        raise ApiError(400, "validation_failed", f"query: {exc}") from None


def check_window(horizon: Horizon, start: date, end: date, what: str) -> None:
    """Nights outside the kept window would come back empty, which reads as sold out."""
    if not horizon.covers(start, end):
        first, last = horizon.bounds()
        raise ApiError(
            400, "invalid_range", f"{what} is kept for nights {first} to {last}: ask within them"
        )
