"""The attacks the review found held, kept as regressions: another hotel's data through any
route or token, forged JWTs, Idempotency-Key replays across keys, oversized and malformed
input. Each refusal is a 4xx in the one error shape, and nothing is written."""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import Any

import jwt
import psycopg
import pytest

from bridge.cache.memory import MemoryCache
from bridge.config import Settings
from tests.support.api_server import (
    JWT_SECRET,
    body,
    create_key,
    room_type_with_rooms,
    running_api,
)

P = "/api/booking-engine"
FAR = date.today() + timedelta(days=200)


async def count(db_url: str, statement: str, *params: Any) -> int:
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        row = await (await conn.execute(statement, params)).fetchone()
    assert row is not None
    return int(row[0])


async def another_hotels_booking(db_url: str) -> str:
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        row = await (
            await conn.execute("SELECT id::text FROM reservations WHERE hotel_id = 2 LIMIT 1")
        ).fetchone()
    assert row is not None
    return str(row[0])


async def test_no_route_or_token_reaches_another_hotel(settings: Settings, db_url: str) -> None:
    admin = await create_key(db_url, 1, "admin")
    theirs = await another_hotels_booking(db_url)
    window = f"start_date={FAR}&end_date={FAR + timedelta(days=2)}"
    reads = [
        f"{P}/hotels/2",
        f"{P}/hotels/2/images",
        f"{P}/hotels/2/pricing?{window}",
        f"{P}/room-types/2",
        f"{P}/amenities/2",
        f"{P}/plans/2",
        f"{P}/availability/2?{window}",
        f"{P}/bookings/{theirs}",
        f"{P}/cache/status?hotel_id=2",
    ]
    before = await count(db_url, "SELECT count(*) FROM reservations WHERE hotel_id = 2")
    type_id, _ = await room_type_with_rooms(db_url, 2)
    async with running_api(settings, MemoryCache()) as api, api.client() as http:
        token = (await http.post(f"{P}/auth/token", json={"api_key": admin})).json()
        for credential in (admin, token["access_token"]):
            auth = {"Authorization": f"Bearer {credential}"}
            for path in reads:
                reply = await http.get(path, headers=auth)
                assert reply.status_code == 404, path
                assert set(reply.json()) == {"error", "detail"}
            writes = [
                ("POST", f"{P}/bookings", {**body(type_id, FAR), "hotel_id": 2}),
                ("PUT", f"{P}/bookings/{theirs}", {"guests": 2}),
                ("DELETE", f"{P}/bookings/{theirs}", None),
                ("POST", f"{P}/cache/update-hotels", {"hotel_id": 2}),
                (
                    "POST",
                    f"{P}/cache/refresh-availability",
                    {"hotel_id": 2, "start_date": str(FAR), "end_date": str(FAR)},
                ),
            ]
            for method, path, payload in writes:
                reply = await http.request(method, path, json=payload, headers=auth)
                assert reply.status_code in (400, 404, 422), (method, path, reply.text)
    assert await count(db_url, "SELECT count(*) FROM reservations WHERE hotel_id = 2") == before
    assert (
        await count(db_url, "SELECT count(*) FROM booking_engine_cache_triggers WHERE hotel_id = 2")
        == 0
    )


def _claims(sub: str, **override: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": "pms-bridge",
        "aud": "pms-bridge-booking-engine",
        "sub": sub,
        "hotel_id": 1,
        "scope": "read book admin",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    claims.update(override)
    return claims


@pytest.mark.parametrize(
    "forge",
    [
        lambda sub: jwt.encode(_claims(sub), "", algorithm="none"),
        lambda sub: jwt.encode(_claims(sub), "guessed-secret-" * 3, "HS256"),
        lambda sub: jwt.encode(_claims(sub, hotel_id=2), JWT_SECRET, "HS256"),
        lambda sub: jwt.encode(_claims("0000000000000000"), JWT_SECRET, "HS256"),
        lambda sub: jwt.encode(_claims(sub, exp=int(time.time()) - 60), JWT_SECRET, "HS256"),
    ],
    ids=["alg_none", "guessed_secret", "other_hotel", "unknown_key", "expired"],
)
async def test_forged_tokens_are_refused(settings: Settings, db_url: str, forge: Any) -> None:
    key = await create_key(db_url, 1, "read")
    forged = forge(key.split("_")[1])
    async with running_api(settings, MemoryCache()) as api, api.client(forged) as http:
        for hotel in (1, 2):
            reply = await http.get(f"{P}/hotels/{hotel}")
            assert reply.status_code == 401 and reply.json()["error"] in (
                "invalid_token",
                "unauthorized",
            )


async def test_an_idempotency_key_replays_only_for_its_own_key(
    settings: Settings, db_url: str
) -> None:
    mine = await create_key(db_url, 1, "book")
    yours = await create_key(db_url, 1, "book")
    type_id, _ = await room_type_with_rooms(db_url, 1)
    payload = body(type_id, FAR + timedelta(days=7))
    same = {"Idempotency-Key": "shared-order-1"}
    async with running_api(settings, MemoryCache()) as api:
        async with api.client(mine) as http:
            first = await http.post(f"{P}/bookings", json=payload, headers=same)
            again = await http.post(f"{P}/bookings", json=payload, headers=same)
            changed = await http.post(f"{P}/bookings", json={**payload, "guests": 2}, headers=same)
        async with api.client(yours) as http:
            other = await http.post(
                f"{P}/bookings", json=body(type_id, FAR + timedelta(days=30)), headers=same
            )
    assert first.status_code == 201 and again.json() == first.json()
    assert changed.status_code == 422
    # The other key's call is its own: a new booking, not a replay of the first.
    assert other.status_code == 201
    assert other.json()["booking_id"] != first.json()["booking_id"]


async def test_oversized_and_malformed_input_is_refused_without_a_5xx(
    settings: Settings, db_url: str
) -> None:
    key = await create_key(db_url, 1, "book")
    json_type = {"Content-Type": "application/json"}
    cases: list[tuple[str, str, bytes, dict[str, str]]] = [
        ("POST", f"{P}/bookings", b'{"comment": "' + b"x" * 100_000 + b'"}', json_type),
        ("POST", f"{P}/bookings", b"[" * 5000 + b"]" * 5000, json_type),
        ("POST", f"{P}/bookings", b"{nope", json_type),
        ("POST", f"{P}/bookings", b"\xff\xfe", json_type),
        ("POST", f"{P}/bookings", b"{}", {"Content-Type": "text/plain"}),
        ("POST", f"{P}/auth/token", b'{"api_key": "' + b"a" * 60_000 + b'"}', json_type),
        ("POST", f"{P}/auth/validate-token", b'{"token": 5}', json_type),
        ("GET", f"{P}/hotels/99999999999999999999", b"", {}),
        ("GET", f"{P}/availability/1?start_date=yesterday&end_date=x", b"", {}),
        ("GET", f"{P}/bookings/not-a-uuid", b"", {}),
    ]
    before = await count(db_url, "SELECT count(*) FROM reservations")
    async with running_api(settings, MemoryCache()) as api, api.client(key) as http:
        for method, path, content, headers in cases:
            reply = await http.request(method, path, content=content, headers=headers)
            assert 400 <= reply.status_code < 500, (path, content[:20], reply.status_code)
            assert set(reply.json()) == {"error", "detail"}
            assert len(reply.content) < 2000  # the input is not echoed back
    assert await count(db_url, "SELECT count(*) FROM reservations") == before
