"""Rate limits (in-process and Redis) answer 429 with headers and recover; every call is audited."""

from __future__ import annotations

import asyncio

import httpx
import msgspec
import psycopg
import pytest
import redis.asyncio as aioredis

from api.audit import AuditWriter
from api.ratelimit import MemoryLimiter, RedisLimiter, parse_limits
from bridge.cache.memory import MemoryCache
from bridge.config import Settings
from bridge.sql import migrations
from metrics.definitions import REGISTRY
from tests.support.api_server import create_key, running_api

P = "/api/booking-engine"


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_rate_limit_429_then_recovery(settings: Settings, db_url: str, backend: str) -> None:
    if backend == "memory":
        settings = msgspec.structs.replace(settings, redis_url=None)
    key = await create_key(db_url, 1, "read")
    other = await create_key(db_url, 1, "read")
    limits = "read=0.5:3,book=50:50,admin=50:50,auth=50:50"
    server = running_api(settings, MemoryCache(), rate_limits=limits)
    async with server as api, api.client(key) as http:
        replies = [await http.get(f"{P}/hotels/1") for _ in range(6)]
        codes = [r.status_code for r in replies]
        assert codes[:3] == [200, 200, 200] and 429 in codes[3:]
        first_ok, limited = replies[0], next(r for r in replies if r.status_code == 429)
        assert first_ok.headers["RateLimit-Limit"] == "3"
        assert int(first_ok.headers["RateLimit-Remaining"]) == 2
        assert limited.json()["error"] == "rate_limited"
        assert limited.headers["RateLimit-Remaining"] == "0"
        retry_after = int(limited.headers["Retry-After"])
        assert retry_after >= 1
        async with api.client(other) as neighbour:  # buckets are per key
            assert (await neighbour.get(f"{P}/hotels/1")).status_code == 200
        await asyncio.sleep(retry_after)
        assert (await http.get(f"{P}/hotels/1")).status_code == 200


async def test_every_call_is_audited_without_secrets(settings: Settings, db_url: str) -> None:
    key = await create_key(db_url, 1, "book")
    async with running_api(settings, MemoryCache()) as api:
        async with api.client(key) as http:
            assert (await http.get(f"{P}/hotels/1")).status_code == 200
            assert (await http.get(f"{P}/hotels/2")).status_code == 404
            token = await http.post(f"{P}/auth/token", json={"api_key": key})
            assert token.status_code == 200
        async with api.client("pmsb_wrong") as http:
            assert (await http.get(f"{P}/hotels/1")).status_code == 401
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        cur = await conn.execute(
            "SELECT hotel_id, action, status, error_message, request_data::text,"
            " response_data->>'status_code' FROM booking_engine_audit_log ORDER BY id"
        )
        rows = await cur.fetchall()
    assert [(r[0], r[1], r[2], r[5]) for r in rows] == [
        (1, "hotel.read", "ok", "200"),
        (1, "hotel.read", "rejected", "404"),
        (1, "auth.token", "ok", "200"),
        # Refused before the handler ran: the action is the route itself.
        (None, "GET /api/booking-engine/hotels/{hotel_id:int}", "rejected", "401"),
    ]
    assert rows[1][3].startswith("not_found")
    assert all(key not in (r[4] or "") for r in rows)
    assert all("pmsb_" not in (r[4] or "") for r in rows)


async def test_failed_audit_write_is_counted_not_raised(settings: Settings, db_url: str) -> None:
    from psycopg_pool import AsyncConnectionPool

    from api.audit import now
    from bridge.audit_log import AuditEntry

    def failures() -> float:
        return (
            REGISTRY.get_sample_value(
                "pms_bridge_api_audit_failed_total", {"reason": "write_error"}
            )
            or 0.0
        )

    async with AsyncConnectionPool(db_url, min_size=1, open=False) as pool:
        async with pool.connection() as conn:
            await conn.execute("ALTER TABLE booking_engine_audit_log RENAME TO audit_gone")
        writer = AuditWriter(pool)
        before = failures()
        writer.record(AuditEntry(1, "x", "y", None, {}, {}, "ok", None, now()))
        assert await writer.flush() == 0
        assert failures() == before + 1
        async with pool.connection() as conn:
            await conn.execute("ALTER TABLE audit_gone RENAME TO booking_engine_audit_log")
        writer.record(AuditEntry(1, "x", "y", None, {}, {}, "ok", None, now()))
        assert await writer.flush() == 1


async def test_audit_batches_keep_call_order_and_survive_a_missing_hotel(db_url: str) -> None:
    from psycopg_pool import AsyncConnectionPool

    from api.audit import now
    from bridge.audit_log import AuditEntry

    async with AsyncConnectionPool(db_url, min_size=1, open=False) as pool:
        writer = AuditWriter(pool)
        for n, hotel in enumerate([2, 1, 424_242, None, 1]):
            writer.record(AuditEntry(hotel, f"call {n}", "y", None, {}, {}, "ok", None, now()))
        assert await writer.flush() == 5
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT hotel_id, action FROM booking_engine_audit_log ORDER BY id"
            )
            rows = await cur.fetchall()
            # created_at is UTC, as the bridge writes every TIMESTAMP column.
            cur = await conn.execute(
                "SELECT max(abs(extract(epoch FROM created_at - (now() AT TIME ZONE 'UTC'))))"
                " FROM booking_engine_audit_log"
            )
            skew = await cur.fetchone()
    # A hotel that does not exist (deleted meanwhile) is recorded as NULL, not a failed batch.
    assert rows == [(2, "call 0"), (1, "call 1"), (None, "call 2"), (None, "call 3"), (1, "call 4")]
    assert skew is not None and skew[0] < 60


async def test_audit_rows_do_not_hold_their_hotel_and_outlive_it(db_url: str) -> None:
    from psycopg_pool import AsyncConnectionPool

    from api.audit import now
    from bridge.audit_log import AuditEntry

    async with AsyncConnectionPool(db_url, min_size=1, open=False) as pool:
        async with pool.connection() as conn:
            cur = await conn.execute("INSERT INTO hotels (name) VALUES ('gone') RETURNING id")
            row = await cur.fetchone()
        assert row is not None
        hotel_id = row[0]
        writer = AuditWriter(pool)
        writer.record(AuditEntry(hotel_id, "GET hotel", "hotel", None, {}, {}, "ok", None, now()))
        assert await writer.flush() == 1
        async with pool.connection() as conn:
            await conn.execute("DELETE FROM hotels WHERE id = %s", (hotel_id,))
            cur = await conn.execute(
                "SELECT hotel_id, action FROM booking_engine_audit_log WHERE hotel_id = %s",
                (hotel_id,),
            )
            assert await cur.fetchall() == [(hotel_id, "GET hotel")]


async def test_the_audit_logs_hotel_key_is_dropped_whatever_its_name(db_url: str) -> None:
    """A PMS that created the table itself may have named the constraint otherwise."""
    (migration,) = [m for m in migrations("bridge") if m.name == "audit_log_without_hotel_fk"]
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        await conn.execute(
            "ALTER TABLE booking_engine_audit_log ADD CONSTRAINT pms_audit_hotel"
            " FOREIGN KEY (hotel_id) REFERENCES hotels (id)"
        )
        # A key to another table is not the migration's business.
        await conn.execute("CREATE TABLE audit_actions (action TEXT PRIMARY KEY)")
        await conn.execute(
            "ALTER TABLE booking_engine_audit_log ADD CONSTRAINT keep_me"
            " FOREIGN KEY (action) REFERENCES audit_actions (action) NOT VALID"
        )
        async with conn.transaction():
            await conn.execute(migration.sql.encode())
        cur = await conn.execute(
            "SELECT conname FROM pg_constraint"
            " WHERE conrelid = 'booking_engine_audit_log'::regclass AND contype = 'f'"
        )
        assert await cur.fetchall() == [("keep_me",)]


async def test_replicas_sharing_redis_share_one_bucket(settings: Settings, db_url: str) -> None:
    key = await create_key(db_url, 1, "read")
    limits = "read=0.5:20,book=50:50,admin=50:50,auth=50:50"
    first = running_api(settings, MemoryCache(), rate_limits=limits)
    second = running_api(settings, MemoryCache(), rate_limits=limits)
    async with first as a, second as b, a.client(key) as http_a, b.client(key) as http_b:
        codes = []
        for _ in range(25):
            codes.append((await http_a.get(f"{P}/hotels/1")).status_code)
            codes.append((await http_b.get(f"{P}/hotels/1")).status_code)
    # One bucket of 20 for both replicas (plus at most a couple of refilled tokens), not 2 x 20.
    assert 15 <= codes.count(200) <= 22, codes
    assert codes.count(429) == 50 - codes.count(200)


async def test_concurrent_calls_within_the_limit_all_pass(settings: Settings, db_url: str) -> None:
    key = await create_key(db_url, 1, "read")
    limits = "read=1000:1000,book=50:50,admin=50:50,auth=50:50"
    server = running_api(settings, MemoryCache(), rate_limits=limits)
    async with server as api, api.client(key, limits=httpx.Limits(max_connections=50)) as http:
        replies = await asyncio.gather(*(http.get(f"{P}/hotels/1") for _ in range(300)))
    assert {r.status_code for r in replies} == {200}


async def test_a_replica_spends_its_lease_before_asking_redis_again(
    redis_url: str, redis_prefix: str
) -> None:
    """A replica leases a tenth of the shared bucket and spends it call by call; the
    remaining count it reports is the shared bucket's, lease included."""
    limiter = RedisLimiter(redis_url, redis_prefix, parse_limits("read=0.01:30"))
    memory = MemoryLimiter(parse_limits("read=0.01:2"))
    try:
        first = await limiter.hit("k", "read")  # leases a tenth of the bucket, spends one
        leased = [await limiter.hit("k", "read") for _ in range(2)]
        assert first.allowed and first.remaining == 29
        assert [d.allowed for d in leased] == [True, True]
        assert [d.remaining for d in leased] == [28, 27]
        again = await limiter.hit("k", "read")  # a new lease from what Redis still holds
        assert again.allowed and again.remaining == 26
        assert [(await memory.hit("k", "read")).allowed for _ in range(3)] == [True, True, False]
    finally:
        await limiter.close()


async def test_a_lease_running_low_is_topped_up_while_it_is_spent(
    redis_url: str, redis_prefix: str
) -> None:
    """Once a quarter of a lease is left it is filled back from the shared bucket in the
    background, so the callers that spend it never wait on Redis; the bucket gives up only
    what brings the lease back to its size (a tenth of the bucket)."""
    limiter = RedisLimiter(redis_url, redis_prefix, parse_limits("read=0.01:100"))
    redis = aioredis.Redis.from_url(redis_url)
    try:
        spent = [await limiter.hit("k", "read") for _ in range(8)]  # a lease of 10, 2 left
        assert all(d.allowed for d in spent) and spent[-1].remaining == 92
        deadline = asyncio.get_running_loop().time() + 30
        while float(await redis.hget(f"{redis_prefix}:rl:read:k", "tokens") or 0) > 85:
            assert asyncio.get_running_loop().time() < deadline, "the lease was not topped up"
            await asyncio.sleep(0.02)
        # 90 left after the first lease, 82 after topping up 8: the lease is 10 again.
        assert 82 <= float(await redis.hget(f"{redis_prefix}:rl:read:k", "tokens") or 0) < 83
        after = [await limiter.hit("k", "read") for _ in range(10)]
        assert all(d.allowed for d in after)
        assert after[-1].remaining == 82
    finally:
        await redis.aclose()
        await limiter.close()
