"""Requeueing deliveries (`pms-bridge sync retry`) and the delivery totals reports show."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec
import psycopg

from bridge.delivery.events import DeliveryIntent, enqueue
from bridge.sql import query


class DeliverySummary(msgspec.Struct):
    delivered: int
    retried: int
    failed: int
    pending: int


async def requeue(conn: psycopg.AsyncConnection[Any], booking_id: uuid.UUID | None) -> int:
    """Failed events (all, or one booking's) back to pending with a fresh retry budget.

    For one booking, its pending events are made due now as well; a booking with no open
    event gets a new `updated` event carrying its current state (if its hotel syncs).
    Returns the events queued.
    """
    cur = await conn.execute(query("delivery_requeue"), {"booking_id": booking_id})
    row = await cur.fetchone()
    queued = int(row[0]) if row else 0
    if booking_id is None or queued:
        return queued
    cur = await conn.execute(query("delivery_booking_hotel"), {"booking_id": booking_id})
    intents = [
        DeliveryIntent(uuid.uuid4(), hotel_id, booking_id, "updated", datetime.now().astimezone())
        for (hotel_id,) in await cur.fetchall()
    ]
    queued = await enqueue(conn, intents)
    if queued:
        await conn.execute(query("delivery_mark_pending"), {"booking_id": booking_id})
    return queued


async def summary(conn: psycopg.AsyncConnection[Any], since: datetime) -> DeliverySummary:
    """Events created since `since`: delivered, retries made, failed, still pending."""
    cur = await conn.execute(query("delivery_summary"), {"since": since})
    row = await cur.fetchone()
    return DeliverySummary(*(int(v) for v in row)) if row else DeliverySummary(0, 0, 0, 0)
