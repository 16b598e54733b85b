"""Failed deliveries: listing and requeueing them (`pms-bridge sync failed|retry`), and the
delivery totals reports show."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec
import psycopg

from bridge.db import fetch_all, fetch_one, fetch_value, fetch_values
from bridge.delivery.events import DeliveryIntent, enqueue
from bridge.sql import query


class DeliverySummary(msgspec.Struct):
    delivered: int
    retried: int
    failed: int
    pending: int


class FailedDelivery(msgspec.Struct, kw_only=True):
    """An event delivered for good to no one: it holds `waiting` later events of its
    reservation until it is requeued."""

    event_id: uuid.UUID
    hotel_id: int
    booking_id: uuid.UUID
    operation: str
    attempts: int
    last_error: str | None
    occurred_at: datetime
    created_at: datetime
    waiting: int


async def failed(
    conn: psycopg.AsyncConnection[Any], hotel_id: int | None, limit: int = 1000
) -> list[FailedDelivery]:
    """Failed events, of one hotel or all, oldest first."""
    params = {"hotel_id": hotel_id, "limit": limit}
    return await fetch_all(conn, FailedDelivery, query("delivery_failed"), params)


async def requeue(
    conn: psycopg.AsyncConnection[Any], booking_id: uuid.UUID | None, hotel_id: int | None = None
) -> int:
    """Failed events (all, one hotel's, or one booking's) back to pending with a fresh retry
    budget.

    For one booking, its pending events are made due now as well; a booking with no open
    event gets a new `updated` event carrying its current state (if its hotel syncs).
    Returns the events queued.
    """
    scope = {"booking_id": booking_id, "hotel_id": hotel_id}
    queued = int(await fetch_value(conn, query("delivery_requeue"), scope) or 0)
    if booking_id is None or queued:
        return queued
    intents = [
        DeliveryIntent(uuid.uuid4(), hotel_id, booking_id, "updated", datetime.now().astimezone())
        for hotel_id in await fetch_values(conn, query("delivery_booking_hotel"), scope)
    ]
    queued = await enqueue(conn, intents)
    if queued:
        await conn.execute(query("delivery_mark_pending"), scope)
    return queued


async def summary(conn: psycopg.AsyncConnection[Any], since: datetime) -> DeliverySummary:
    """Events created since `since`: delivered, retries made, failed, still pending."""
    found = await fetch_one(conn, DeliverySummary, query("delivery_summary"), {"since": since})
    return found or DeliverySummary(0, 0, 0, 0)
