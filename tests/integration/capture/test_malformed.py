"""A malformed outbox row is parked and counted, and the changes after it are still applied."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import msgspec
import psycopg

from bridge.cache.memory import MemoryCache
from bridge.config import Settings
from metrics.definitions import REGISTRY
from tests.support.capture import book, free_room
from tests.support.pipeline import cached, outbox_size, run_once, truth

# (table_name, op, old_row, new_row) as a broken writer could leave them in the outbox.
MALFORMED = [
    ("no_such_table", "I", None, '{"id": 1}'),
    ("reservations", "X", None, '{"hotel_id": 1, "id": "7f1c9b1e-0000-4000-8000-000000000001"}'),
    (
        "reservation_details",
        "I",
        None,
        '{"hotel_id": "abc", "id": "7f1c9b1e-0000-4000-8000-000000000002",'
        ' "reservation_id": "7f1c9b1e-0000-4000-8000-000000000003", "date": "2030-01-01",'
        ' "room_id": 1}',
    ),
    ("rooms", "U", "[1, 2]", '"not an object"'),
    ("reservations", "I", None, '{"hotel_id": 1}'),
]


def parked_metric(table: str) -> float:
    value = REGISTRY.get_sample_value("pms_bridge_changes_parked_total", {"table": table})
    return value or 0.0


async def test_malformed_rows_are_parked_counted_and_the_stream_goes_on(settings: Settings) -> None:
    settings = msgspec.structs.replace(settings, capture="trigger")
    url = settings.database_url
    assert url is not None
    tables = sorted({row[0] for row in MALFORMED})
    before = {table: parked_metric(table) for table in tables}
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for table, op, old, new in MALFORMED:
            await conn.execute(
                "INSERT INTO pms_bridge.outbox (table_name, op, old_row, new_row)"
                " VALUES (%s, %s, %s::jsonb, %s::jsonb)",
                (table, op, old, new),
            )
    night = date.today() + timedelta(days=15)
    room_id, room_type_id = await free_room(url, 1, night)
    reservation_id: uuid.UUID = await book(url, 1, room_id, night)

    cache = MemoryCache()
    bridge = await run_once(settings, cache)

    assert bridge.parked == len(MALFORMED)
    assert bridge.applied == 2  # the reservation and its one night, after the bad rows
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute(
            "SELECT table_name, op, error FROM pms_bridge.parked_changes ORDER BY position::bigint"
        )
        parked = await cur.fetchall()
        cur = await conn.execute(
            "SELECT sync_status FROM booking_sync_status WHERE hotel_id = 1 AND booking_id = %s",
            (reservation_id,),
        )
        assert await cur.fetchone() == ("pending",)
    names = {"I": "insert", "U": "update", "X": "X"}
    assert [(table, op) for table, op, _ in parked] == [(t, names[o]) for t, o, *_ in MALFORMED]
    assert all(error for _, _, error in parked)
    expected = {table: sum(1 for t, *_ in MALFORMED if t == table) for table in tables}
    assert {table: parked_metric(table) - before[table] for table in tables} == expected
    assert await outbox_size(url) == 0
    # The valid booking's night reached the cache as the PMS has it, and nothing else did.
    night_truth = (await truth(url, settings))[(1, room_type_id, night)]
    assert await cached(cache) == {(1, room_type_id, night): night_truth}
