"""Per-request guard: who is calling (API key or JWT), may they (scope), and how often (rate)."""

from __future__ import annotations

import functools
from typing import Any

import msgspec
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency

from api.auth import tokens
from api.auth.keys import KeyRecord, KeyStore
from api.call import Call, call_of
from api.context import ApiContext, context_of
from api.errors import ApiError
from api.ratelimit import Decision
from metrics.definitions import api_rate_limited


class Principal(msgspec.Struct, frozen=True):
    key_pk: int
    key_id: str
    hotel_id: int
    scopes: tuple[str, ...]
    via: str  # "api_key" | "jwt"


def credential_of(authorization: str | None, api_key: str | None) -> str | None:
    """The key or token a call presents: `Authorization: Bearer …`, else `X-API-Key`."""
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "unauthorized", "Authorization must be 'Bearer <api key or token>'")
        return token.strip()
    return api_key or None


def _bearer(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    # Straight from the raw ASGI headers: this runs on every call, and building the full
    # header mapping costs more than the rest of authentication.
    authorization = api_key = None
    for name, value in connection.scope["headers"]:
        if name == b"authorization":
            authorization = value.decode("latin-1")
        elif name == b"x-api-key":
            api_key = value.decode("latin-1")
    return credential_of(authorization, api_key)


def usable(record: KeyRecord | None) -> KeyRecord:
    if record is None:
        raise ApiError(401, "unauthorized", "API key or token not recognised")
    if not record.is_active:
        raise ApiError(401, "unauthorized", "API key is deactivated")
    if record.expired:
        raise ApiError(401, "unauthorized", "API key has expired")
    return record


async def identify(ctx: ApiContext, credential: str) -> Principal:
    """A Principal for an API key or an access token, or 401 saying what is wrong."""
    if ctx.keys is None:
        raise ApiError(503, "unavailable", "no database configured: API keys cannot be checked")
    if _is_token(credential):
        claims = _claims(ctx, credential)
        return _token_principal(ctx.keys, claims, await ctx.keys.by_key_id(claims.key_id))
    return _key_principal(ctx.keys, await ctx.keys.verify(credential))


def _is_token(credential: str) -> bool:
    return credential.count(".") == 2


def _claims(ctx: ApiContext, credential: str) -> tokens.Claims:
    try:
        return tokens.decode_access(credential, ctx.jwt_secret)
    except tokens.TokenError as exc:
        raise ApiError(401, "invalid_token", str(exc)) from None


def _token_principal(keys: KeyStore, claims: tokens.Claims, found: KeyRecord | None) -> Principal:
    # A token dies with its key, and its scopes narrow with the key's: deactivating a key
    # or taking a scope from it holds for its tokens too.
    record = usable(found)
    if claims.hotel_id != record.hotel_id:
        # Tokens are issued with their key's hotel; the key's record is the authority.
        raise ApiError(401, "invalid_token", "token's hotel is not its key's")
    keys.touch(record)
    scopes = tuple(scope for scope in claims.scopes if scope in record.scopes)
    return Principal(record.id, record.key_id, record.hotel_id, scopes, "jwt")


def _key_principal(keys: KeyStore, found: KeyRecord | None) -> Principal:
    record = usable(found)
    keys.touch(record)
    return Principal(record.id, record.key_id, record.hotel_id, record.scopes, "api_key")


async def rate_decision(call: Call, ctx: ApiContext, caller: str, klass: str) -> Decision:
    """Takes a token from the caller's bucket; the decision's headers go on the response."""
    assert ctx.limiter is not None
    decision = await ctx.limiter.hit(caller, klass)
    call.ratelimit = decision
    if not decision.allowed:
        api_rate_limited.labels(klass=klass, outcome="rejected").inc()
    return decision


def rate_limited(decision: Decision, klass: str) -> ApiError:
    return ApiError(
        429,
        "rate_limited",
        f"too many {klass} requests; retry in {decision.retry_after}s",
        headers={"Retry-After": str(decision.retry_after)},
    )


async def limit(call: Call, ctx: ApiContext, caller: str, klass: str) -> None:
    decision = await rate_decision(call, ctx, caller, klass)
    if not decision.allowed:
        raise rate_limited(decision, klass)


async def admit(request: Request[Any, Any, Any]) -> None:
    """Admission to the booking engine's routes, run (as their router's before_request hook)
    before a body or query is read: who is calling, how often (the route's opt names its
    scope and rate class; a route with neither is open), and no query string where the route
    takes none. So a caller without credentials gets 401, and one over its limit 429, before
    any body is parsed. A hook rather than a guard: Litestar hands each guard call its own
    copy of the route handler, which cost more than the rest of admission."""
    opt = request.route_handler.opt
    if "scope" not in opt and "rate" not in opt:
        return
    scope = request.scope
    ctx = context_of(request)
    call = call_of(scope)
    if not plain_ids(scope["path"]):
        raise ApiError(404, "not_found", "ids in a path are ASCII digits")
    client = request.client.host if request.client else "unknown"
    refuse_failing(ctx, client)
    if "scope" in opt:
        # A scope alone still means a protected route: its class is then its scope.
        needed: str = opt["scope"]
        credential = _bearer(request)
        if credential is None:
            raise ApiError(
                401, "unauthorized", "missing credentials: send 'Authorization: Bearer …'"
            )
        principal = await identify(ctx, credential)
        call.principal = principal
        await limit(call, ctx, principal.key_id, opt.get("rate", needed))
        if needed not in principal.scopes:
            raise ApiError(403, "forbidden", f"this key lacks the '{needed}' scope")
    else:
        call.client = client
        await limit(call, ctx, f"ip:{client}", opt["rate"])
    if not opt.get("query") and scope["query_string"]:
        raise ApiError(400, "validation_failed", "this call takes no query parameters")


@functools.lru_cache(maxsize=4096)
def plain_ids(path: str) -> bool:
    """Whether every part of the path is ASCII and every number in it is written in plain
    digits: Python's int(), and so the router, also reads Arabic-Indic or full-width digits,
    '+1' and ' 1' as 1."""
    for part in path.split("/"):
        if not part.isascii():
            return False
        if part and not part.isdigit():
            try:
                int(part)
            except ValueError:
                continue
            return False
    return True


def refuse_failing(ctx: ApiContext, client: str) -> None:
    """429 for an address past its failed-authentication limit, before any key lookup."""
    wait = None if ctx.failed_auth is None else ctx.failed_auth.refused(client)
    if wait is not None:
        raise ApiError(
            429,
            "rate_limited",
            f"too many failed authentications from this address; retry in {wait}s",
            headers={"Retry-After": str(wait)},
        )


def principal_of(call: Call) -> Principal:
    """The caller `admit` identified, for a protected route."""
    principal = call.principal
    assert principal is not None
    return principal


async def provide_principal(
    request: Request[Any, Any, Any], ctx: NamedDependency[ApiContext]
) -> Principal:
    """Dependency for protected routes: principal_of the call. It takes `ctx` only to be
    resolved after it: Litestar resolves the dependencies of one level in a task group, a
    task each, which costs more than the route's memoized answer."""
    return principal_of(call_of(request.scope))


async def provide_anonymous(
    request: Request[Any, Any, Any], ctx: NamedDependency[ApiContext]
) -> str:
    """Dependency for the token endpoints: the client address `admit` rate-limited (after
    `ctx`, as provide_principal)."""
    client = call_of(request.scope).client
    assert client is not None
    return client


def same_hotel(principal: Principal, hotel_id: int) -> None:
    """Another hotel's data does not exist for this caller."""
    if hotel_id != principal.hotel_id:
        raise ApiError(404, "not_found", f"hotel {hotel_id} not found")
