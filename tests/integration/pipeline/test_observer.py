"""The operator gauges read from the database: open deliveries per hotel and the oldest's age,
parked changes, the slot's retained WAL; a hotel with nothing open and sync off loses its
series."""

from __future__ import annotations

import json
import uuid

import psycopg

from bridge.observer import Observer
from metrics.definitions import REGISTRY
from tests.conftest import drop_slot
from tests.support.delivery import configure, sql


def gauge(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def test_gauges_follow_the_delivery_outbox_parked_changes_and_the_slot(db_url: str) -> None:
    await configure(db_url, "http://127.0.0.1:9/webhook", hotel_id=1)
    await configure(db_url, "http://127.0.0.1:9/webhook", hotel_id=2)
    event = (
        "INSERT INTO pms_bridge.delivery_events (event_id, hotel_id, booking_id, operation,"
        " occurred_at, payload, status, attempts, created_at) VALUES (%s, 1, %s, 'created',"
        " now(), '{}', %s, %s, now() - make_interval(secs => %s))"
    )
    for status, attempts, age in (
        ("pending", 0, 30),
        ("pending", 3, 600),
        ("failed", 8, 90),
        ("delivered", 1, 9000),
    ):
        await sql(db_url, event, (uuid.uuid4(), uuid.uuid4(), status, attempts, age))
    await sql(
        db_url,
        "INSERT INTO pms_bridge.parked_changes (consumer, position, table_name, op, payload,"
        " error) VALUES ('trigger:default', '1', 'reservations', 'I', %s, 'out of range')",
        (json.dumps({"hotel_id": 99_999_999_999}),),
    )
    slot = "observer_" + uuid.uuid4().hex[:8]
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        await conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))
        # WAL written after the slot's restart position, which it keeps.
        await conn.execute("UPDATE hotels SET name = name || ''")
        try:
            observer = Observer(db_url, slot)
            await observer.refresh(conn)
            open_events = "pms_bridge_delivery_events_open"
            assert gauge(open_events, hotel_id="1", status="pending") == 2
            assert gauge(open_events, hotel_id="1", status="failed") == 1
            # The pending event that met an error is being retried; a fresh one is not.
            assert gauge("pms_bridge_delivery_events_retrying", hotel_id="1") == 1
            oldest = gauge("pms_bridge_delivery_oldest_open_seconds", hotel_id="1")
            assert oldest is not None and 600 <= oldest < 9000
            # Sync on and nothing open: zeros, not missing series.
            assert gauge(open_events, hotel_id="2", status="pending") == 0
            assert gauge("pms_bridge_delivery_oldest_open_seconds", hotel_id="2") == 0
            assert gauge("pms_bridge_parked_changes") == 1
            retained = gauge("pms_bridge_slot_retained_bytes")
            assert retained is not None and retained > 0

            await sql(db_url, "UPDATE booking_engine_config SET sync_enabled = false")
            await sql(db_url, "DELETE FROM pms_bridge.delivery_events WHERE status = 'failed'")
            await sql(db_url, "DELETE FROM pms_bridge.parked_changes")
            await observer.refresh(conn)
            # Hotel 1 still has open events, so its series stay; hotel 2's go.
            assert gauge(open_events, hotel_id="1", status="failed") == 0
            assert gauge(open_events, hotel_id="2", status="pending") is None
            assert gauge("pms_bridge_delivery_events_retrying", hotel_id="2") is None
            assert gauge("pms_bridge_delivery_oldest_open_seconds", hotel_id="2") is None
            assert gauge("pms_bridge_parked_changes") == 0
        finally:
            drop_slot(db_url, slot)
