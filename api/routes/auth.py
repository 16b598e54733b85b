"""POST /auth/token, POST /auth/validate-token, GET /auth/user/{user_id}."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from api.auth import tokens
from api.auth.guard import Principal, identify, usable
from api.auth.keys import KEY_ID
from api.call import call_of
from api.context import ApiContext
from api.errors import ApiError
from api.openapi import Documented
from api.paths import PREFIX
from api.routes.common import BODY, OPT, errors, note
from api.schemas import Identity, TokenRequest, TokenResponse, ValidateRequest, ValidateResponse

log = logging.getLogger("pms_bridge.api.auth")


def _identity(principal: Principal, expires_at: Any = None) -> Identity:
    return Identity(
        user_id=principal.key_id,
        key_id=principal.key_id,
        hotel_id=principal.hotel_id,
        scopes=list(principal.scopes),
        authenticated_with=principal.via,
        expires_at=expires_at,
    )


@post(
    f"{PREFIX}/auth/token",
    tags=["auth"],
    operation_id="createToken",
    operation_class=Documented,
    status_code=200,
    opt={"rate": "auth"},
    security=[{}],
    responses=errors(*BODY, 422, scoped=False),
    summary="Exchange an API key (or a refresh token) for tokens",
)
async def token(
    request: Request[Any, Any, Any],
    ctx: NamedDependency[ApiContext],
    anonymous: NamedDependency[str],
    data: JSONBody[TokenRequest],
) -> TokenResponse:
    """An access token (15 min) and a refresh token; each refresh token works once, and its
    family ends BRIDGE_REFRESH_FAMILY_DAYS after the API key was exchanged."""
    note(request, "auth.token", "api_key", None, {"grant_type": data.grant_type})
    if ctx.keys is None or ctx.pool is None:
        raise ApiError(503, "unavailable", "no database configured: API keys cannot be checked")
    family = None
    if data.grant_type == "api_key":
        if data.api_key is None:
            raise ApiError(422, "unprocessable", "grant_type api_key needs api_key")
        record = usable(await ctx.keys.verify(data.api_key))
    else:
        if data.refresh_token is None:
            raise ApiError(422, "unprocessable", "grant_type refresh_token needs refresh_token")
        try:
            spent = await tokens.spend_refresh(ctx.pool, data.refresh_token)
        except tokens.TokenReused as exc:
            await _audit_reuse(request, ctx, exc)
            raise ApiError(401, "invalid_token", str(exc)) from None
        except tokens.TokenError as exc:
            raise ApiError(401, "invalid_token", str(exc)) from None
        record = usable(await ctx.keys.by_id(spent.api_key_id))
        family = spent.family
    ctx.keys.touch(record)
    note(
        request,
        "auth.token",
        "api_key",
        record.key_id,
        {"grant_type": data.grant_type},
        {"hotel_id": record.hotel_id},
    )
    call_of(request.scope).hotel_id = record.hotel_id
    try:
        refresh = await tokens.issue_refresh(
            ctx.pool, record, ctx.settings.refresh_family_days, family
        )
    except tokens.TokenError as exc:  # the family ended since the spent token was checked
        raise ApiError(401, "invalid_token", str(exc)) from None
    return TokenResponse(
        access_token=tokens.issue_access(record, ctx.jwt_secret),
        token_type="Bearer",
        expires_in=tokens.ACCESS_TTL_SECONDS,
        refresh_token=refresh.token,
        refresh_expires_in=refresh.expires_in,
        scope=" ".join(record.scopes),
    )


async def _audit_reuse(
    request: Request[Any, Any, Any], ctx: ApiContext, reused: tokens.TokenReused
) -> None:
    """A reused refresh token's audit row names the key and hotel it was stolen from."""
    assert ctx.keys is not None
    record = await ctx.keys.by_id(reused.api_key_id)
    if record is None:
        return
    log.warning(
        "refresh token of key %s (hotel %d) used twice: its family is revoked",
        record.key_id,
        record.hotel_id,
    )
    note(
        request,
        "auth.refresh_reuse",
        "api_key",
        record.key_id,
        {"grant_type": "refresh_token", "key_id": record.key_id},
        {"hotel_id": record.hotel_id},
    )
    call_of(request.scope).hotel_id = record.hotel_id


@post(
    f"{PREFIX}/auth/validate-token",
    tags=["auth"],
    operation_id="validateToken",
    operation_class=Documented,
    status_code=200,
    opt={"rate": "auth"},
    security=[{}],
    responses=errors(*BODY, scoped=False),
    summary="Check a token (or API key); 401 when it is not valid",
)
async def validate_token(
    request: Request[Any, Any, Any],
    ctx: NamedDependency[ApiContext],
    anonymous: NamedDependency[str],
    data: JSONBody[ValidateRequest],
) -> ValidateResponse:
    note(request, "auth.validate", "token")
    principal = await identify(ctx, data.token)
    note(
        request,
        "auth.validate",
        "token",
        principal.key_id,
        {"key_id": principal.key_id, "via": principal.via},
    )
    expires_at = None
    if principal.via == "jwt":
        expires_at = tokens.decode_access(data.token, ctx.jwt_secret).expires_at
    call_of(request.scope).hotel_id = principal.hotel_id
    return ValidateResponse(True, _identity(principal, expires_at))


@get(
    f"{PREFIX}/auth/user/{{user_id:str}}",
    tags=["auth"],
    operation_id="getUser",
    operation_class=Documented,
    opt=OPT("read"),
    responses=errors(404),
    summary="The identity behind the caller's credentials",
)
async def user(
    request: Request[Any, Any, Any], principal: NamedDependency[Principal], user_id: FromPath[str]
) -> Identity:
    """user_id is the key id; asking for another key's identity is 404."""
    # Only a key id's shape is recorded or repeated: anything else is the caller's text.
    shaped = KEY_ID.fullmatch(user_id) is not None
    note(request, "auth.user", "api_key", user_id if shaped else None)
    if user_id != principal.key_id:
        raise ApiError(404, "not_found", f"user {user_id} not found" if shaped else "no such user")
    return _identity(principal)


ROUTES = [token, validate_token, user]
