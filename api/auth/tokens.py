"""JWT access tokens (HS256, short-lived) and rotating refresh tokens with reuse detection."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import jwt
import msgspec
from psycopg_pool import AsyncConnectionPool

from api.auth.keys import KeyRecord
from bridge.db import fetch_one, fetch_value
from bridge.sql import query

ALGORITHM = "HS256"
AUDIENCE = "pms-bridge-booking-engine"
ISSUER = "pms-bridge"
ACCESS_TTL_SECONDS = 900
REFRESH_TTL_SECONDS = 7 * 24 * 3600
REFRESH_PREFIX = "pmsr_"
FAMILY_ENDED = "refresh token family has ended: exchange the API key for new tokens"


class Claims(msgspec.Struct, frozen=True):
    key_id: str
    hotel_id: int
    scopes: tuple[str, ...]
    expires_at: datetime


class TokenError(Exception):
    """The token is not acceptable; the message says why without echoing the token."""


class TokenReused(TokenError):
    """A spent refresh token presented again: the sign of a stolen one. Names the key whose
    family was revoked, for the audit log."""

    def __init__(self, api_key_id: int) -> None:
        super().__init__("refresh token was already used; its family is now revoked")
        self.api_key_id = api_key_id


class RefreshOutcome(msgspec.Struct, frozen=True):
    api_key_id: int
    family: uuid.UUID


class _Spent(msgspec.Struct, frozen=True):
    """A refresh token as api_refresh_spend found it."""

    family: uuid.UUID
    api_key_id: int
    reused: bool
    revoked: bool
    expired: bool
    family_ended: bool


class Refresh(msgspec.Struct, frozen=True):
    token: str
    expires_in: int  # seconds; never past the family's end


def issue_access(record: KeyRecord, secret: str, now: float | None = None) -> str:
    issued = int(now if now is not None else time.time())
    payload = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": record.key_id,
        "hotel_id": record.hotel_id,
        "scope": " ".join(record.scopes),
        "iat": issued,
        "nbf": issued,
        "exp": issued + ACCESS_TTL_SECONDS,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


def decode_access(token: str, secret: str) -> Claims:
    """Only HS256 with our secret, our audience and issuer, and not expired."""
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "aud", "iss", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise TokenError("token expired") from None
    except jwt.InvalidAudienceError:
        raise TokenError("token is for another audience") from None
    except jwt.InvalidAlgorithmError:
        raise TokenError("token algorithm not accepted (HS256 only)") from None
    except jwt.InvalidSignatureError:
        raise TokenError("token signature does not verify") from None
    except jwt.InvalidTokenError as exc:
        raise TokenError(f"token rejected: {type(exc).__name__}") from None
    hotel_id, scope, sub = payload.get("hotel_id"), payload.get("scope"), payload["sub"]
    if not isinstance(hotel_id, int) or not isinstance(scope, str) or not isinstance(sub, str):
        raise TokenError("token claims are malformed")
    try:
        expires = datetime.fromtimestamp(payload["exp"], UTC)
    except (OverflowError, OSError, ValueError):
        raise TokenError("token expiry is out of range") from None
    return Claims(sub, hotel_id, tuple(scope.split()), expires)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_refresh(
    pool: AsyncConnectionPool[Any],
    record: KeyRecord,
    family_days: int,
    family: uuid.UUID | None = None,
) -> Refresh:
    """A refresh token of a new family, or the next one of `family`."""
    token = REFRESH_PREFIX + secrets.token_urlsafe(32)
    async with pool.connection() as conn:
        expires_in = await fetch_value(
            conn,
            query("api_refresh_insert"),
            {
                "token_hash": _hash(token),
                "family": family or uuid.uuid4(),
                "family_days": family_days,
                "api_key_id": record.id,
                "ttl": REFRESH_TTL_SECONDS,
            },
        )
    if expires_in is None:
        raise TokenError(FAMILY_ENDED)
    return Refresh(token, expires_in)


async def spend_refresh(pool: AsyncConnectionPool[Any], token: str) -> RefreshOutcome:
    """Uses up a refresh token; a second use of one token revokes its whole family."""
    if not token.startswith(REFRESH_PREFIX):
        raise TokenError("not a refresh token")
    async with pool.connection() as conn:
        params = {"token_hash": _hash(token)}
        spent = await fetch_one(conn, _Spent, query("api_refresh_spend"), params)
        if spent is None:
            raise TokenError("refresh token unknown")
        if spent.reused:
            await conn.execute(query("api_refresh_revoke_family"), {"family": spent.family})
            raise TokenReused(spent.api_key_id)
    if spent.revoked:
        raise TokenError("refresh token revoked")
    if spent.family_ended:
        raise TokenError(FAMILY_ENDED)
    if spent.expired:
        raise TokenError("refresh token expired")
    return RefreshOutcome(spent.api_key_id, spent.family)
