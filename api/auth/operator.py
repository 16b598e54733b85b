"""Who may read the operators' pages (/metrics and the status page): anyone by default, and
only a caller presenting BRIDGE_METRICS_TOKEN once it is set."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler
from litestar.openapi.datastructures import ResponseSpec

from api.context import CONTEXT, ApiContext
from api.errors import ApiError
from api.schemas import ErrorBody

# The OpenAPI security of these routes: none, or the token once it is configured.
SECURITY: list[dict[str, list[str]]] = [{}, {"operatorBasic": []}, {"operatorBearer": []}]
# Basic, so that a browser asks for it (the token as the password, any user name) and sends
# it again with the status page's links; Prometheus can send either.
CHALLENGE = {"WWW-Authenticate": 'Basic realm="pms-bridge operators", charset="UTF-8"'}
RESPONSES = {
    401: ResponseSpec(
        ErrorBody,
        description="BRIDGE_METRICS_TOKEN is set and the call did not present it",
        generate_examples=False,
    )
}


def presented(authorization: str | None) -> bytes | None:
    """The secret an Authorization header carries: a Bearer token or a Basic password."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value.encode()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return None
        return decoded.partition(b":")[2]
    return None


def operator_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard of the operators' pages."""
    ctx: ApiContext = connection.app.state[CONTEXT]
    token = ctx.settings.metrics_token
    if not token:
        return
    secret = presented(connection.headers.get("authorization"))
    # Digests compared in constant time: the time tells neither how much of the token
    # matched nor its length.
    if secret is None or not hmac.compare_digest(
        hashlib.sha256(secret).digest(), hashlib.sha256(token.encode()).digest()
    ):
        raise ApiError(
            401,
            "unauthorized",
            "this page needs BRIDGE_METRICS_TOKEN: 'Authorization: Bearer <token>', or Basic "
            "with the token as the password",
            headers=CHALLENGE,
        )
