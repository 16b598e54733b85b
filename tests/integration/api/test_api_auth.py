"""API keys and JWTs: every bad credential is refused, tokens rotate, reuse revokes a family."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import jwt
import msgspec
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from api.auth import keys, tokens
from bridge.cache.memory import MemoryCache
from bridge.config import Settings
from tests.support.api_server import JWT_SECRET, create_key, running_api

P = "/api/booking-engine"


async def test_bad_keys_are_refused_and_other_hotels_are_not_found(
    settings: Settings, db_url: str
) -> None:
    good = await create_key(db_url, 1, "read")
    expired = await create_key(db_url, 1, "read", expires_in=-60)
    inactive = await create_key(db_url, 1, "read", active=False)
    prefix, key_id, secret = good.split("_", 2)
    forged = f"{prefix}_{key_id}_{'A' * len(secret)}"
    async with running_api(settings, MemoryCache()) as api:
        async with api.client() as http:
            assert (await http.get(f"{P}/hotels/1")).status_code == 401
            basic = await http.get(f"{P}/hotels/1", headers={"Authorization": "Basic abc"})
            assert basic.status_code == 401
        for key in (forged, expired, inactive, "not-a-key", "pmsb_0000000000000000_" + "x" * 43):
            async with api.client(key) as http:
                reply = await http.get(f"{P}/hotels/1")
                assert reply.status_code == 401, key
                assert set(reply.json()) == {"error", "detail"}
        async with api.client(good) as http:
            assert (await http.get(f"{P}/hotels/1")).status_code == 200
            assert (await http.get(f"{P}/hotels/2")).status_code == 404
            booking = await http.post(f"{P}/bookings", json={})
            assert booking.status_code in (400, 403)
        async with api.client(None, headers={"X-API-Key": good}) as http:
            assert (await http.get(f"{P}/hotels/1")).status_code == 200
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        cur = await conn.execute(
            "SELECT last_used_at IS NOT NULL FROM booking_engine_api_keys WHERE key_id = %s",
            (key_id,),
        )
        assert await cur.fetchone() == (True,)  # flushed in a batch, at the latest on shutdown


async def test_read_scope_cannot_book(settings: Settings, db_url: str) -> None:
    key = await create_key(db_url, 1, "read")
    async with running_api(settings, MemoryCache()) as api, api.client(key) as http:
        reply = await http.post(
            f"{P}/bookings",
            json={
                "hotel_id": 1,
                "room_type_id": 1,
                "check_in": "2099-01-01",
                "check_out": "2099-01-02",
                "guests": 1,
                "guest": {"name": "x"},
            },
        )
        assert reply.status_code == 403 and reply.json()["error"] == "forbidden"


async def test_tokens_work_and_refresh_rotates_with_reuse_detection(
    settings: Settings, db_url: str
) -> None:
    key = await create_key(db_url, 1, "book")
    key_id = key.split("_")[1]
    async with running_api(settings, MemoryCache()) as api, api.client() as http:
        issued = await http.post(f"{P}/auth/token", json={"api_key": key})
        assert issued.status_code == 200, issued.text
        first = issued.json()
        assert first["token_type"] == "Bearer" and 0 < first["expires_in"] <= 900
        assert first["refresh_expires_in"] == tokens.REFRESH_TTL_SECONDS
        assert first["scope"] == "read book"
        bearer = {"Authorization": f"Bearer {first['access_token']}"}
        assert (await http.get(f"{P}/hotels/1", headers=bearer)).status_code == 200
        assert (await http.get(f"{P}/hotels/2", headers=bearer)).status_code == 404

        valid = await http.post(f"{P}/auth/validate-token", json={"token": first["access_token"]})
        assert valid.status_code == 200
        identity = valid.json()["identity"]
        assert (identity["key_id"], identity["hotel_id"]) == (key_id, 1)
        assert identity["authenticated_with"] == "jwt" and identity["expires_at"]

        me = await http.get(f"{P}/auth/user/{key_id}", headers=bearer)
        assert me.status_code == 200 and me.json()["scopes"] == ["read", "book"]
        assert (await http.get(f"{P}/auth/user/someone-else", headers=bearer)).status_code == 404

        rotated = await http.post(
            f"{P}/auth/token",
            json={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        )
        assert rotated.status_code == 200
        second = rotated.json()
        assert second["refresh_token"] != first["refresh_token"]

        reused = await http.post(
            f"{P}/auth/token",
            json={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        )
        assert reused.status_code == 401 and "revoked" in reused.json()["detail"]
        # The reuse revoked the whole family: the newest refresh token is dead too.
        after = await http.post(
            f"{P}/auth/token",
            json={"grant_type": "refresh_token", "refresh_token": second["refresh_token"]},
        )
        assert after.status_code == 401

        wrong_key = await http.post(f"{P}/auth/token", json={"api_key": key[:-4] + "AAAA"})
        assert wrong_key.status_code == 401
        extra = await http.post(f"{P}/auth/token", json={"api_key": key, "user": "x"})
        assert extra.status_code == 400


async def test_a_changed_key_holds_for_every_call_once_its_record_has_aged(
    settings: Settings, db_url: str
) -> None:
    """However long a key went unused: once RECORD_TTL_SECONDS have passed, a deactivated key
    gets no call through (not even the first), and a token has only its key's scopes."""
    booker, revoked = await create_key(db_url, 1, "book"), await create_key(db_url, 1, "read")
    booking = {
        "hotel_id": 1,
        "room_type_id": 1,
        "check_in": "2099-01-01",
        "check_out": "2099-01-02",
        "guests": 1,
        "guest": {"name": "x"},
    }
    async with running_api(settings, MemoryCache()) as api, api.client() as http:
        access = (await http.post(f"{P}/auth/token", json={"api_key": booker})).json()
        bearer = {"Authorization": f"Bearer {access['access_token']}"}
        revoked_auth = {"Authorization": f"Bearer {revoked}"}
        assert (await http.get(f"{P}/hotels/1", headers=revoked_auth)).status_code == 200
        with psycopg.connect(db_url) as conn:
            conn.execute(
                "UPDATE booking_engine_api_keys SET scopes = ARRAY['read'] WHERE key_id = %s",
                (booker.split("_")[1],),
            )
            conn.execute(
                "UPDATE booking_engine_api_keys SET is_active = false WHERE key_id = %s",
                (revoked.split("_")[1],),
            )
        await asyncio.sleep(keys.RECORD_TTL_SECONDS + 0.5)

        statuses = [
            (await http.get(f"{P}/hotels/1", headers=revoked_auth)).status_code for _ in range(4)
        ]
        assert statuses == [401] * 4
        narrowed = await http.post(f"{P}/bookings", json=booking, headers=bearer)
        assert narrowed.status_code == 403, narrowed.text
        assert (await http.get(f"{P}/hotels/1", headers=bearer)).status_code == 200


async def refresh(http: Any, token: str) -> Any:
    return await http.post(
        f"{P}/auth/token", json={"grant_type": "refresh_token", "refresh_token": token}
    )


def family_ends(db_url: str) -> list[tuple[object, object]]:
    with psycopg.connect(db_url) as conn:
        return conn.execute(
            "SELECT family, family_ends_at FROM pms_bridge.api_refresh_tokens ORDER BY issued_at"
        ).fetchall()


def age_families(db_url: str, by: str) -> None:
    """Moves every family's clock back: as if its key had been exchanged `by` earlier."""
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "UPDATE pms_bridge.api_refresh_tokens"
            " SET family_ends_at = family_ends_at - %s::interval,"
            " expires_at = expires_at - %s::interval, issued_at = issued_at - %s::interval",
            (by, by, by),
        )


async def test_a_refresh_family_ends_its_days_after_the_key_was_exchanged(
    settings: Settings, db_url: str
) -> None:
    """Rotating keeps the family's end; past it the client must exchange its key again."""
    settings = msgspec.structs.replace(settings, refresh_family_days=2)
    key = await create_key(db_url, 1, "book")
    day = 86_400
    async with running_api(settings, MemoryCache()) as api, api.client() as http:
        first = (await http.post(f"{P}/auth/token", json={"api_key": key})).json()
        # Shorter than a refresh token's own week: the family's two days bound it.
        assert first["refresh_expires_in"] == 2 * day

        age_families(db_url, "1 day")
        rotated = await refresh(http, first["refresh_token"])
        assert rotated.status_code == 200, rotated.text
        second = rotated.json()
        assert day - 60 < second["refresh_expires_in"] <= day
        [(family, ends), (same_family, same_end)] = family_ends(db_url)
        assert (same_family, same_end) == (family, ends)

        age_families(db_url, "1 day 1 second")
        ended = await refresh(http, second["refresh_token"])
        assert ended.status_code == 401
        assert "family has ended" in ended.json()["detail"]

        again = (await http.post(f"{P}/auth/token", json={"api_key": key})).json()
        assert again["refresh_expires_in"] == 2 * day
        assert family_ends(db_url)[-1][0] != family


async def test_a_family_from_before_the_bound_gets_one_and_keeps_it(
    settings: Settings, db_url: str
) -> None:
    """A family issued before migration 110 (NULL end) gets an end at its next rotation; a
    token an older replica writes into a bounded family (NULL again) does not reset it."""
    settings = msgspec.structs.replace(settings, refresh_family_days=3)
    key = await create_key(db_url, 1, "read")
    async with running_api(settings, MemoryCache()) as api, api.client() as http:
        first = (await http.post(f"{P}/auth/token", json={"api_key": key})).json()
        with psycopg.connect(db_url) as conn:
            conn.execute("UPDATE pms_bridge.api_refresh_tokens SET family_ends_at = NULL")

        rotated = await refresh(http, first["refresh_token"])

        assert rotated.status_code == 200, rotated.text
        assert rotated.json()["refresh_expires_in"] == 3 * 86_400
        [(family, none), (same_family, ends)] = family_ends(db_url)
        assert none is None and same_family == family and ends is not None

        age_families(db_url, "2 days 23 hours")
        older = tokens.REFRESH_PREFIX + "written-by-an-older-replica"
        with psycopg.connect(db_url) as conn:
            conn.execute(
                "INSERT INTO pms_bridge.api_refresh_tokens"
                " (token_hash, family, api_key_id, expires_at)"
                " SELECT %s, family, api_key_id, now() + interval '7 days'"
                " FROM pms_bridge.api_refresh_tokens LIMIT 1",
                (tokens._hash(older),),
            )
        last = await refresh(http, older)
        assert last.status_code == 200, last.text
        assert 3600 - 60 < last.json()["refresh_expires_in"] <= 3600


async def test_no_token_is_issued_into_a_family_that_ended_meanwhile(
    settings: Settings, db_url: str
) -> None:
    """The family ends between the spend and the next token's write: no token is written (not
    one already dead on arrival); the error says why, and the route answers it with 401."""
    key = await create_key(db_url, 1, "read")
    async with running_api(settings, MemoryCache()) as api, api.client() as http:
        first = (await http.post(f"{P}/auth/token", json={"api_key": key})).json()
        autocommit = {"autocommit": True}
        async with AsyncConnectionPool(db_url, min_size=1, open=False, kwargs=autocommit) as pool:
            spent = await tokens.spend_refresh(pool, first["refresh_token"])
            age_families(db_url, "31 days")
            record = await api.ctx.keys.by_id(spent.api_key_id)
            assert record is not None
            with pytest.raises(tokens.TokenError, match="family has ended"):
                await tokens.issue_refresh(pool, record, 30, spent.family)
        [(family, _)] = family_ends(db_url)
        assert family == spent.family  # nothing was written into it


async def test_a_token_issued_while_its_family_is_revoked_is_revoked_too(
    settings: Settings, db_url: str
) -> None:
    """The race a thief can win: the thief spends T1, the owner replays T1 (revoking the
    family) before the thief's T2 is written. T2 must not work."""
    key = await create_key(db_url, 1, "read")
    async with running_api(settings, MemoryCache()) as api, api.client() as http:
        t1 = (await http.post(f"{P}/auth/token", json={"api_key": key})).json()
        # Autocommit, as the API's pool: the replay's revocation commits though it raises.
        autocommit = {"autocommit": True}
        async with AsyncConnectionPool(db_url, min_size=1, open=False, kwargs=autocommit) as pool:
            spent = await tokens.spend_refresh(pool, t1["refresh_token"])
            with pytest.raises(tokens.TokenError, match="family is now revoked"):
                await tokens.spend_refresh(pool, t1["refresh_token"])
            record = await api.ctx.keys.by_id(spent.api_key_id)
            assert record is not None
            t2 = await tokens.issue_refresh(pool, record, 30, spent.family)

        late = await refresh(http, t2.token)

        assert late.status_code == 401 and "revoked" in late.json()["detail"]


def _claims(**override: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": tokens.ISSUER,
        "aud": tokens.AUDIENCE,
        "sub": "placeholder",
        "hotel_id": 1,
        "scope": "read book admin",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    claims.update(override)
    return claims


@pytest.mark.parametrize(
    "attack",
    [
        "alg_none",
        "wrong_alg",
        "bad_signature",
        "expired",
        "wrong_audience",
        "wrong_issuer",
        "far_expiry",
        "other_hotel",
    ],
)
async def test_jwt_attacks_are_rejected(settings: Settings, db_url: str, attack: str) -> None:
    key = await create_key(db_url, 1, "read")
    sub = key.split("_")[1]
    now = int(time.time())
    forged = {
        "alg_none": lambda: jwt.encode(_claims(sub=sub), None, algorithm="none"),
        "wrong_alg": lambda: jwt.encode(_claims(sub=sub), JWT_SECRET, algorithm="HS512"),
        "bad_signature": lambda: jwt.encode(_claims(sub=sub), "not-the-secret-" * 3, "HS256"),
        "expired": lambda: jwt.encode(
            _claims(sub=sub, iat=now - 2000, nbf=now - 2000, exp=now - 1000), JWT_SECRET, "HS256"
        ),
        "wrong_audience": lambda: jwt.encode(
            _claims(sub=sub, aud="someone-else"), JWT_SECRET, "HS256"
        ),
        "wrong_issuer": lambda: jwt.encode(_claims(sub=sub, iss="mallory"), JWT_SECRET, "HS256"),
        # Signed with the secret, so only its holder can make them: past datetime's range (a
        # 500 before), and a hotel that is not the key's (the key's record decides).
        "far_expiry": lambda: jwt.encode(_claims(sub=sub, exp=10**12), JWT_SECRET, "HS256"),
        "other_hotel": lambda: jwt.encode(_claims(sub=sub, hotel_id=2), JWT_SECRET, "HS256"),
    }[attack]()
    control = jwt.encode(_claims(sub=sub), JWT_SECRET, "HS256")
    async with running_api(settings, MemoryCache()) as api, api.client() as http:
        ok = await http.get(f"{P}/hotels/1", headers={"Authorization": f"Bearer {control}"})
        assert ok.status_code == 200  # the same claims, properly signed, pass
        for hotel in (1, 2):
            reply = await http.get(
                f"{P}/hotels/{hotel}", headers={"Authorization": f"Bearer {forged}"}
            )
            assert reply.status_code == 401
            assert reply.json()["error"] == "invalid_token"
            assert reply.headers["www-authenticate"].endswith('error="invalid_token"')
        checked = await http.post(f"{P}/auth/validate-token", json={"token": forged})
        assert checked.status_code == 401
