"""Who a caller is: the address (trusted proxies only), the failed-authentication limit per
address before any key lookup, unknown keys cached apart, and what the audit log records."""

from __future__ import annotations

import secrets
from typing import Any

import msgspec
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from api.auth import keys as key_store
from api.auth.keys import KeyStore, key_id_of
from bridge.cache.memory import MemoryCache
from bridge.config import Settings
from tests.support.api_server import create_key, running_api

P = "/api/booking-engine"
# Generous for everything but what a test is about.
BASE = "read=5000:5000,book=5000:5000,admin=5000:5000"


def made_up_key() -> str:
    return f"pmsb_{secrets.token_hex(8)}_{secrets.token_urlsafe(32)}"


async def audit_rows(db_url: str, action: str) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        cur = await conn.execute(
            "SELECT hotel_id, entity_id, request_data, response_data->>'status_code'"
            " FROM booking_engine_audit_log WHERE action = %s ORDER BY id",
            (action,),
        )
        return await cur.fetchall()


async def test_forwarded_addresses_are_not_believed_by_default(
    settings: Settings, db_url: str
) -> None:
    limits = f"{BASE},auth=0.01:3"
    server = running_api(settings, MemoryCache(), rate_limits=limits)
    async with server as api, api.client() as http:
        codes = []
        for i in range(8):
            forwarded = {"X-Forwarded-For": f"203.0.113.{i}", "Forwarded": f"for=198.51.100.{i}"}
            reply = await http.post(
                f"{P}/auth/validate-token", json={"token": "nonsense"}, headers=forwarded
            )
            codes.append(reply.status_code)
    # One bucket, the peer's: each made-up address is still the same caller.
    assert codes == [401, 401, 401, 429, 429, 429, 429, 429]
    rows = await audit_rows(db_url, "auth.validate")
    assert rows and {r[2]["client"] for r in rows} == {"127.0.0.1"}


async def test_a_trusted_proxy_names_the_client(settings: Settings, db_url: str) -> None:
    limits = f"{BASE},auth=0.01:3"
    proxied = msgspec.structs.replace(settings, trusted_proxies=("127.0.0.1",))
    server = running_api(proxied, MemoryCache(), rate_limits=limits)
    async with server as api, api.client() as http:
        codes = [
            (
                await http.post(
                    f"{P}/auth/validate-token",
                    json={"token": "nonsense"},
                    headers={"X-Forwarded-For": f"203.0.113.{i}"},
                )
            ).status_code
            for i in range(8)
        ]
    assert codes == [401] * 8  # a bucket per client behind the proxy
    rows = await audit_rows(db_url, "auth.validate")
    assert [r[2]["client"] for r in rows] == [f"203.0.113.{i}" for i in range(8)]


async def test_made_up_keys_are_refused_per_address_before_any_lookup(
    settings: Settings, db_url: str
) -> None:
    valid = await create_key(db_url, 1, "read")
    limits = "read=5000:5000,book=5000:5000,admin=5000:5000,auth=5000:5000,failed_auth=0.01:5"
    # Behind a trusted proxy, so that two clients can be told apart.
    proxied = msgspec.structs.replace(settings, trusted_proxies=("127.0.0.1",))
    attacker = {"X-Forwarded-For": "203.0.113.66"}
    async with running_api(proxied, MemoryCache(), rate_limits=limits) as api:
        async with api.client(headers=attacker) as http:
            codes = []
            for _ in range(12):
                reply = await http.get(
                    f"{P}/hotels/1", headers={"Authorization": f"Bearer {made_up_key()}"}
                )
                codes.append(reply.status_code)
        assert codes == [401] * 6 + [429] * 6
        assert reply.json()["error"] == "rate_limited" and int(reply.headers["Retry-After"]) >= 1
        keys = api.ctx.keys
        assert keys is not None
        # The refused ones were never looked up: only the first six reached the key store.
        assert sum(1 for _ in keys.unknown_ids()) == 6
        # Another client is unaffected.
        async with api.client(valid, headers={"X-Forwarded-For": "203.0.113.7"}) as owner:
            assert (await owner.get(f"{P}/hotels/1")).status_code == 200
    rows = await audit_rows(db_url, "GET /api/booking-engine/hotels/{hotel_id:int}")
    refused = [r for r in rows if r[3] in ("401", "429")]
    assert len(refused) == 12 and all(r[2]["client"] == "203.0.113.66" for r in refused)
    assert all(r[0] is None for r in refused)


async def test_unknown_keys_never_push_out_a_real_one(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(key_store, "UNKNOWN_REMEMBERED", 50)
    real = await create_key(db_url, 1, "read")
    real_id = key_id_of(real)
    assert real_id is not None
    async with AsyncConnectionPool(db_url, min_size=1, max_size=2, open=False) as pool:
        store = KeyStore(pool, record_ttl=600)
        assert await store.verify(real) is not None
        for _ in range(200):
            assert await store.verify(made_up_key()) is None
        assert sum(1 for _ in store.unknown_ids()) == 50
        assert store.current(real_id) is not None
