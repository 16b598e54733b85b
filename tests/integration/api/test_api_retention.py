"""The API's own records are pruned past their retention; what is still needed stays."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import msgspec
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from api import retention
from api.auth import tokens
from api.auth.keys import KeyRecord
from api.retention import Retention
from bridge.cache.memory import MemoryCache
from bridge.config import Settings
from metrics.definitions import REGISTRY
from tests.support.api_server import create_key, running_api


def pruned(table: str) -> float:
    return REGISTRY.get_sample_value("pms_bridge_api_pruned_total", {"table": table}) or 0.0


async def seeded_key(db_url: str, pool: AsyncConnectionPool[Any]) -> tuple[int, str]:
    """A key (its id and key id), with two audit rows and one Idempotency-Key answer past the
    default retention and one of each inside it."""
    await create_key(db_url, 1, "book")
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT id, key_id FROM booking_engine_api_keys LIMIT 1")
        row = await cur.fetchone()
        assert row is not None
        await seed(conn, row[0])
    return row[0], row[1]


async def seed(conn: psycopg.AsyncConnection[Any], key_id: int) -> None:
    for label, age in [("old 1", "100 days"), ("old 2", "91 days"), ("recent", "1 day")]:
        await audit_row(conn, label, age)
    for label, age in [("old", "8 days"), ("recent", "1 hour")]:
        await idempotency_row(conn, key_id, label, age)


async def audit_row(conn: psycopg.AsyncConnection[Any], action: str, age: str) -> None:
    """An audit row written `age` ago, in UTC without a zone as the writer stores it."""
    await conn.execute(
        "INSERT INTO booking_engine_audit_log (hotel_id, action, entity_type, status, created_at)"
        " VALUES (1, %s, 'request', 'ok', (now() AT TIME ZONE 'UTC') - %s::interval)",
        (action, age),
    )


async def idempotency_row(
    conn: psycopg.AsyncConnection[Any], key_id: int, key: str, age: str
) -> None:
    await conn.execute(
        "INSERT INTO pms_bridge.api_idempotency (api_key_id, idempotency_key, request_hash,"
        " created_at) VALUES (%s, %s, 'h', now() - %s::interval)",
        (key_id, key, age),
    )


async def test_pruning_removes_what_is_past_its_keep_and_nothing_else(db_url: str) -> None:
    async with AsyncConnectionPool(db_url, min_size=1, open=False) as pool:
        key_id, public_id = await seeded_key(db_url, pool)
        record = KeyRecord(key_id, public_id, 1, "", ("book",), True, None, False)
        # A family whose every token expired days ago, and one still in use whose first,
        # spent token expired: only the dead family goes.
        dead = uuid.uuid4()
        for _ in range(2):
            await tokens.issue_refresh(pool, record, 30, dead)
        live = uuid.uuid4()
        spent = (await tokens.issue_refresh(pool, record, 30, live)).token
        await tokens.issue_refresh(pool, record, 30, live)
        async with pool.connection() as conn:
            await conn.execute(
                "UPDATE pms_bridge.api_refresh_tokens SET expires_at = now() - interval '3 days',"
                " used_at = now() - interval '4 days'"
                " WHERE family = %s OR token_hash = %s",
                (dead, tokens._hash(spent)),
            )
        before = {t: pruned(t) for t in ("audit_log", "idempotency", "refresh_tokens")}

        removed = await Retention(pool, audit_days=90, idempotency_days=7).prune(batch=1)

        assert removed == {"audit_log": 2, "idempotency": 1, "refresh_tokens": 2}
        for table, count in removed.items():
            assert pruned(table) == before[table] + count
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT action FROM booking_engine_audit_log WHERE action LIKE 'old%%'"
                " OR action = 'recent'"
            )
            assert await cur.fetchall() == [("recent",)]
            cur = await conn.execute("SELECT idempotency_key FROM pms_bridge.api_idempotency")
            assert await cur.fetchall() == [("recent",)]
            cur = await conn.execute("SELECT DISTINCT family FROM pms_bridge.api_refresh_tokens")
            assert await cur.fetchall() == [(live,)]
        # The spent token kept its power: replayed, it still revokes its family.
        with pytest.raises(tokens.TokenError, match="family is now revoked"):
            await tokens.spend_refresh(pool, spent)


async def test_zero_days_keeps_everything(db_url: str) -> None:
    async with AsyncConnectionPool(db_url, min_size=1, open=False) as pool:
        await seeded_key(db_url, pool)
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT count(*) FROM booking_engine_audit_log")
            audit_rows = await cur.fetchone()

        removed = await Retention(pool, audit_days=0, idempotency_days=0).prune()

        assert removed == {"refresh_tokens": 0}
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT count(*) FROM booking_engine_audit_log")
            assert await cur.fetchone() == audit_rows
            cur = await conn.execute("SELECT count(*) FROM pms_bridge.api_idempotency")
            assert await cur.fetchone() == (2,)


async def test_the_cutoffs_hold_to_the_hour_in_any_session_time_zone(db_url: str) -> None:
    """Non-default retentions, rows an hour either side of each cutoff, and a session far
    from UTC (the audit log stores UTC without a zone, the other tables with one)."""
    far = {"options": "-c TimeZone=Pacific/Kiritimati"}
    await create_key(db_url, 1, "book")
    async with AsyncConnectionPool(db_url, min_size=1, open=False, kwargs=far) as pool:
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT id, key_id FROM booking_engine_api_keys LIMIT 1")
            row = await cur.fetchone()
            assert row is not None
            for label, age in [
                ("just past", "30 days 1 hour"),
                ("just inside", "29 days 23 hours"),
            ]:
                await audit_row(conn, label, age)
            for label, age in [("just past", "2 days 1 hour"), ("just inside", "1 day 23 hours")]:
                await idempotency_row(conn, row[0], label, age)
        # A family whose only token expired half a day ago is kept another half day.
        record = KeyRecord(row[0], row[1], 1, "", ("book",), True, None, False)
        recent = (await tokens.issue_refresh(pool, record, 30)).token
        async with pool.connection() as conn:
            await conn.execute(
                "UPDATE pms_bridge.api_refresh_tokens SET expires_at = now() - interval '12 hours'"
                " WHERE token_hash = %s",
                (tokens._hash(recent),),
            )

        removed = await Retention(pool, audit_days=30, idempotency_days=2).prune()

        assert removed == {"audit_log": 1, "idempotency": 1, "refresh_tokens": 0}
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT action FROM booking_engine_audit_log WHERE action LIKE 'just%%'"
            )
            assert await cur.fetchall() == [("just inside",)]
            cur = await conn.execute("SELECT idempotency_key FROM pms_bridge.api_idempotency")
            assert await cur.fetchall() == [("just inside",)]


async def test_the_running_api_prunes_with_its_settings(
    settings: Settings, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retention, "INTERVAL_SECONDS", 0.1)
    settings = msgspec.structs.replace(settings, audit_retention_days=30)
    async with AsyncConnectionPool(db_url, min_size=1, open=False) as pool:
        async with pool.connection() as conn:
            for label, age in [("old", "31 days"), ("kept", "29 days")]:
                await audit_row(conn, label, age)
        async with running_api(settings, MemoryCache()):
            for _ in range(200):
                async with pool.connection() as conn:
                    cur = await conn.execute(
                        "SELECT action FROM booking_engine_audit_log"
                        " WHERE action IN ('old', 'kept')"
                    )
                    left = await cur.fetchall()
                if left == [("kept",)]:
                    break
                await asyncio.sleep(0.05)
        assert left == [("kept",)]


async def test_a_failed_pass_is_counted_and_the_next_one_prunes(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retention, "INTERVAL_SECONDS", 0.05)
    failed_before = REGISTRY.get_sample_value("pms_bridge_api_prune_failed_total") or 0.0
    async with AsyncConnectionPool(db_url, min_size=1, open=False) as pool:
        async with pool.connection() as conn:
            await audit_row(conn, "old", "100 days")
            await conn.execute("ALTER TABLE booking_engine_audit_log RENAME TO audit_away")
        pruner = Retention(pool, audit_days=90, idempotency_days=7)
        pruner.start()
        try:
            for _ in range(200):
                if (REGISTRY.get_sample_value("pms_bridge_api_prune_failed_total") or 0.0) > (
                    failed_before
                ):
                    break
                await asyncio.sleep(0.05)
            async with pool.connection() as conn:
                await conn.execute("ALTER TABLE audit_away RENAME TO booking_engine_audit_log")
            for _ in range(200):
                async with pool.connection() as conn:
                    cur = await conn.execute(
                        "SELECT count(*) FROM booking_engine_audit_log WHERE action = 'old'"
                    )
                    left = await cur.fetchone()
                if left == (0,):
                    break
                await asyncio.sleep(0.05)
        finally:
            await pruner.stop()
    assert (REGISTRY.get_sample_value("pms_bridge_api_prune_failed_total") or 0.0) > failed_before
    assert left == (0,)
