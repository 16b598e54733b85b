"""The API key store on a real pool: an expired record is re-read once, not once per caller."""

from __future__ import annotations

import asyncio

import psycopg
from psycopg_pool import AsyncConnectionPool

from api.auth.keys import KeyStore, key_id_of
from tests.integration.api_server import create_key


async def test_an_expired_record_is_re_read_once_while_callers_go_on_with_it(
    db_url: str,
) -> None:
    key = await create_key(db_url, 1, "read")
    key_id = key_id_of(key)
    assert key_id is not None
    async with AsyncConnectionPool(db_url, min_size=1, max_size=4, open=False) as pool:
        store = KeyStore(pool, record_ttl=0.0)  # every record is expired as soon as it is read
        first = await store.by_key_id(key_id)
        assert first is not None and first.is_active
        async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
            await conn.execute(
                "UPDATE booking_engine_api_keys SET is_active = false WHERE key_id = %s", (key_id,)
            )
        requests_before = pool.get_stats().get("requests_num", 0)
        seen = await asyncio.gather(*(store.by_key_id(key_id) for _ in range(100)))
        # All hundred answered from the record in hand; one re-read was started for them.
        assert all(r is not None and r.is_active for r in seen)
        await store.reads_done()
        assert pool.get_stats().get("requests_num", 0) - requests_before == 1
        after = await store.by_key_id(key_id)
        assert after is not None and not after.is_active  # the re-read saw the deactivation
        await store.reads_done()
