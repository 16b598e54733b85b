"""The API's own records are pruned past their retention; what is still needed stays."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from api.auth import tokens
from api.auth.keys import KeyRecord
from api.retention import Retention
from metrics.definitions import REGISTRY
from tests.integration.api_server import create_key


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
        await conn.execute(
            "INSERT INTO booking_engine_audit_log (hotel_id, action, entity_type, status,"
            " created_at) VALUES (1, %s, 'request', 'ok',"
            " (now() AT TIME ZONE 'UTC') - %s::interval)",
            (label, age),
        )
    for label, age in [("old", "8 days"), ("recent", "1 hour")]:
        await conn.execute(
            "INSERT INTO pms_bridge.api_idempotency (api_key_id, idempotency_key, request_hash,"
            " created_at) VALUES (%s, %s, 'h', now() - %s::interval)",
            (key_id, label, age),
        )


async def test_pruning_removes_what_is_past_its_keep_and_nothing_else(db_url: str) -> None:
    async with AsyncConnectionPool(db_url, min_size=1, open=False) as pool:
        key_id, public_id = await seeded_key(db_url, pool)
        record = KeyRecord(key_id, public_id, 1, "", ("book",), True, None, False)
        # A family whose every token expired days ago, and one still in use whose first,
        # spent token expired: only the dead family goes.
        dead = uuid.uuid4()
        for _ in range(2):
            await tokens.issue_refresh(pool, record, dead)
        live = uuid.uuid4()
        spent = await tokens.issue_refresh(pool, record, live)
        await tokens.issue_refresh(pool, record, live)
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
