"""One error shape for every failure: {"error": "<short>", "detail": ...} with the right code."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from api.call import Call, call_of
from bridge.db import SCHEMA_ERRORS, first_line
from bridge.errors import Conflict, Invalid, NotFound, Refused, Unavailable, Unprocessable
from bridge.outage import CACHE_DOWN, DATABASE_DOWN

log = logging.getLogger("pms_bridge.api")

# The PMS database or Redis is down, or the PMS schema no longer fits (SCHEMA_ERRORS): the
# caller may retry later; nothing was half-written.
UNAVAILABLE: tuple[type[Exception], ...] = (
    *DATABASE_DOWN,
    *SCHEMA_ERRORS,
    *CACHE_DOWN,
    ConnectionError,
    TimeoutError,
)

_SHORT = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "rate_limited",
    503: "unavailable",
}


class ApiError(HTTPException):
    """Raised by handlers: `error` is the short code, `detail` anything JSON."""

    def __init__(
        self,
        status_code: int,
        error: str,
        detail: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status_code=status_code, detail=str(detail or error), headers=headers)
        self.error = error
        self.payload = detail


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if isinstance(exc, ApiError):
        error, detail = exc.error, exc.payload
    elif isinstance(exc, ValidationException):
        error, detail = "validation_failed", exc.extra or exc.detail
    else:
        error, detail = _SHORT.get(exc.status_code, "error"), exc.detail
    headers = exc.headers
    if exc.status_code == 401 and not headers:
        # RFC 9110: a 401 names the scheme to use (RFC 6750's Bearer, and why the token failed).
        reason = ', error="invalid_token"' if error == "invalid_token" else ""
        headers = {"WWW-Authenticate": f'Bearer realm="pms-bridge"{reason}'}
    return Response(
        error_body(call_of(request.scope), error, detail),
        status_code=exc.status_code,
        headers=headers,
    )


# Each kind of refusal the core modules raise answers with one status; a refusal of no
# narrower kind is the caller's to correct.
REFUSED_STATUS: dict[type[Refused], int] = {
    NotFound: 404,
    Invalid: 400,
    Unprocessable: 422,
    Conflict: 409,
    Unavailable: 503,
    Refused: 400,
}


def refused_answer(exc: Refused) -> tuple[int, str]:
    """The status and error code a refusal is answered with."""
    status = next(REFUSED_STATUS[kind] for kind in type(exc).__mro__ if kind in REFUSED_STATUS)
    return status, exc.error


def _refused(request: Request[Any, Any, Any], exc: Refused) -> Response[Any]:
    status, error = refused_answer(exc)
    return Response(error_body(call_of(request.scope), error, exc.detail), status_code=status)


def error_body(call: Call, error: str, detail: Any) -> dict[str, Any]:
    """The body of an error answer; the call's audit entry records what went wrong."""
    call.error = f"{error}: {detail}"[:500]
    return {"error": error, "detail": detail}


def unavailable(call: Call, exc: Exception) -> tuple[dict[str, Any], dict[str, str]]:
    """The 503 body and headers when the PMS database or Redis cannot be reached, or the PMS
    schema no longer keeps the bridge's contract."""
    call.error = f"unavailable: {type(exc).__name__}"
    detail = (
        "the PMS database's schema does not fit the bridge right now (see /health/ready)"
        if isinstance(exc, SCHEMA_ERRORS)
        else "a dependency (database or cache) is unreachable"
    )
    return {"error": "unavailable", "detail": detail}, {"Retry-After": "5"}


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, UNAVAILABLE):
        # The PMS database or Redis is down: the caller may retry, nothing was half-written
        # (every write is one transaction).
        log.warning(
            "dependency unavailable on %s %s: %s",
            request.method,
            request.url.path,
            first_line(exc),
        )
        body, headers = unavailable(call_of(request.scope), exc)
        return Response(body, status_code=503, headers=headers)
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    call_of(request.scope).error = f"internal_error: {type(exc).__name__}"
    return Response(
        {"error": "internal_error", "detail": "unexpected server error; it has been logged"},
        status_code=HTTP_500_INTERNAL_SERVER_ERROR,
    )


EXCEPTION_HANDLERS: dict[Any, Any] = {
    HTTPException: _http_error,
    Refused: _refused,
    Exception: _unexpected,
}
