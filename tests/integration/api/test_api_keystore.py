"""The API key store on a real pool: a busy key's record is re-read once, ahead of its end,
and no record is used past its end or past its key's expiry."""

from __future__ import annotations

import asyncio
from typing import Any, LiteralString

import psycopg
from psycopg_pool import AsyncConnectionPool

from api.auth.keys import RECORD_TTL_SECONDS, KeyStore, key_id_of
from tests.support.api_server import create_key


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


DEACTIVATE = "UPDATE booking_engine_api_keys SET is_active = false WHERE key_id = %s"
EXPIRE_SOON = (
    "UPDATE booking_engine_api_keys SET expires_at = localtimestamp + interval '2 seconds'"
    " WHERE key_id = %s"
)
EXPIRED = (
    "UPDATE booking_engine_api_keys SET expires_at = localtimestamp - interval '1 second'"
    " WHERE key_id = %s"
)


async def change_key(db_url: str, key_id: str, statement: LiteralString) -> None:
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        await conn.execute(statement, (key_id,))


def reads(pool: AsyncConnectionPool[Any]) -> int:
    return int(pool.get_stats().get("requests_num", 0))


async def a_key(db_url: str) -> str:
    key_id = key_id_of(await create_key(db_url, 1, "read"))
    assert key_id is not None
    return key_id


async def test_a_busy_record_is_re_read_once_ahead_of_its_end_while_callers_go_on(
    db_url: str,
) -> None:
    key_id = await a_key(db_url)
    clock = Clock()
    async with AsyncConnectionPool(db_url, min_size=1, max_size=4, open=False) as pool:
        store = KeyStore(pool, clock=clock)
        first = await store.by_key_id(key_id)
        assert first is not None and first.is_active
        await change_key(db_url, key_id, DEACTIVATE)
        clock.now += RECORD_TTL_SECONDS * 0.7
        before = reads(pool)

        seen = await asyncio.gather(*(store.by_key_id(key_id) for _ in range(100)))

        # All hundred answered from the record in hand; one re-read was started for them.
        assert all(r is not None and r.is_active for r in seen)
        await store.reads_done()
        assert reads(pool) - before == 1
        after = await store.by_key_id(key_id)
        assert after is not None and not after.is_active  # the re-read saw the deactivation


async def test_past_its_end_no_caller_uses_the_old_record(db_url: str) -> None:
    """However long since the key was last used: a revoked key gets no request through."""
    key_id = await a_key(db_url)
    clock = Clock()
    async with AsyncConnectionPool(db_url, min_size=1, max_size=4, open=False) as pool:
        store = KeyStore(pool, clock=clock)
        assert (await store.by_key_id(key_id)) is not None
        await change_key(db_url, key_id, DEACTIVATE)
        clock.now += RECORD_TTL_SECONDS + 60
        before = reads(pool)

        seen = await asyncio.gather(*(store.by_key_id(key_id) for _ in range(100)))

        assert all(r is not None and not r.is_active for r in seen)
        assert reads(pool) - before == 1  # they waited for one re-read together


async def test_a_key_that_expires_sooner_is_re_read_when_it_expires(db_url: str) -> None:
    key_id = await a_key(db_url)
    await change_key(db_url, key_id, EXPIRE_SOON)
    clock = Clock()
    async with AsyncConnectionPool(db_url, min_size=1, max_size=4, open=False) as pool:
        store = KeyStore(pool, clock=clock)
        first = await store.by_key_id(key_id)
        assert first is not None and not first.expired
        # As if those two seconds had passed, for the database and for the store.
        await change_key(db_url, key_id, EXPIRED)
        clock.now += 2.5
        before = reads(pool)

        record = await store.by_key_id(key_id)

        assert reads(pool) - before == 1
        assert record is not None and record.expired
        # An expired key's record is then kept for the usual time, not re-read per call.
        clock.now += 1.0
        assert (await store.by_key_id(key_id)) is record
        assert reads(pool) - before == 1
