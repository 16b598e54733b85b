"""A change that passes validation but fails in SQL is parked; the rest of its batch is applied."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta

import psycopg

from bridge.cache.memory import MemoryCache
from bridge.config import Settings
from metrics.definitions import changes_parked
from tests.support.pipeline import run_once


async def test_change_failing_in_sql_is_parked_and_batch_goes_on(settings: Settings) -> None:
    url = settings.database_url
    assert url is not None
    good_id = uuid.uuid4()
    night = date.today() + timedelta(days=5)
    parked_before = changes_parked.labels(table="reservations")._value.get()
    async with await psycopg.AsyncConnection.connect(url) as conn:
        # hotel_id fits a Python int but not PostgreSQL's int4: only the sync upsert finds out.
        poison = {"hotel_id": 99_999_999_999, "id": str(uuid.uuid4()), "status": "confirmed"}
        await conn.execute(
            "INSERT INTO pms_bridge.outbox (table_name, op, new_row)"
            " VALUES ('reservations', 'I', %s)",
            (json.dumps(poison),),
        )
        client = await (await conn.execute("SELECT id FROM clients LIMIT 1")).fetchone()
        assert client is not None
        await conn.execute(
            "INSERT INTO reservations (id, hotel_id, reservation_client_id, check_in, check_out,"
            " number_of_people, status) VALUES (%s, 1, %s, %s, %s, 1, 'confirmed')",
            (good_id, client[0], night, night + timedelta(days=1)),
        )

    bridge = await run_once(settings, MemoryCache())

    assert bridge.parked == 1
    assert changes_parked.labels(table="reservations")._value.get() == parked_before + 1
    async with await psycopg.AsyncConnection.connect(url) as conn:
        parked = await (
            await conn.execute("SELECT table_name, error FROM pms_bridge.parked_changes")
        ).fetchall()
        assert len(parked) == 1 and parked[0][0] == "reservations"
        assert "out of range" in parked[0][1]
        synced = await (
            await conn.execute(
                "SELECT sync_status FROM booking_sync_status WHERE booking_id = %s", (good_id,)
            )
        ).fetchone()
        assert synced == ("pending",)
        left = await (await conn.execute("SELECT count(*) FROM pms_bridge.outbox")).fetchone()
        assert left == (0,)
