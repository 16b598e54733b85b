"""Delivery projector and stage: a batch's reservation changes become webhook events in the outbox.

The stage runs inside the batch's transaction, so an event exists exactly when its change is
applied; the worker sends it later. Event ids are derived from the change (uuid5), so a batch
applied twice cannot enqueue an event twice. A booking whose changes in the batch all come
from the booking engine's own API transactions (pms_bridge.engine_writes) is not echoed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Literal

import msgspec
import psycopg

from bridge.changes import Change, xid_array
from bridge.db import fetch_value
from bridge.sql import query

TABLES = frozenset({"reservations", "reservation_details"})
NAMESPACE = uuid.UUID("5b1f3c0e-8d4a-4b59-9a57-2f0c1d6e7a31")

Operation = Literal["created", "updated", "cancelled", "deleted"]


class DeliveryIntent(msgspec.Struct, gc=False):
    """One event to enqueue: the booking's last change in the batch decides id and time."""

    event_id: uuid.UUID
    hotel_id: int
    booking_id: uuid.UUID
    operation: Operation
    occurred_at: datetime
    # The transactions the batch's changes of this booking came from: when every one is the
    # booking engine's own write through the API, the event is its echo and not enqueued.
    xids: tuple[int, ...] = ()


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def project(changes: Iterable[Change]) -> list[DeliveryIntent]:
    # Per booking: (operation, its transactions, deciding change); the event id is hashed
    # once per booking at the end, not once per change (a stay's nights are many changes).
    intents: dict[tuple[int, uuid.UUID], tuple[Operation, tuple[int, ...], Change]] = {}
    for change in changes:
        if change.table not in TABLES or change.op == "truncate":
            continue
        row = change.row
        if change.table == "reservations":
            raw = row.get("id", change.pk.get("id"))
        else:
            raw = row.get("reservation_id")
        if raw is None:
            continue
        hotel_id = int(row.get("hotel_id", change.pk.get("hotel_id", 0)))
        booking_id = _uuid(raw)
        key = (hotel_id, booking_id)
        previous = intents.get(key)
        operation: Operation = "updated"
        if change.table == "reservations":
            if change.op == "insert":
                operation = "created"
            elif change.op == "delete":
                operation = "deleted"
            elif (change.new or {}).get("status") == "cancelled" and (
                (change.old or {}).get("status") != "cancelled"
            ):
                operation = "cancelled"
        if previous is not None and operation == "updated" and previous[0] != "updated":
            operation = previous[0]  # created/cancelled/deleted stays what it was
        xids = previous[1] if previous is not None else ()
        if change.xid not in xids:
            xids = (*xids, change.xid)
        intents[key] = (operation, xids, change)
    return [
        DeliveryIntent(
            uuid.uuid5(NAMESPACE, f"{hotel_id}:{booking_id}:{last.xid}:{last.position}"),
            hotel_id,
            booking_id,
            operation,
            last.committed_at,
            xids,
        )
        for (hotel_id, booking_id), (operation, xids, last) in intents.items()
    ]


async def enqueue(conn: psycopg.AsyncConnection[Any], intents: Sequence[DeliveryIntent]) -> int:
    """Insert the events of sync-enabled hotels, payloads frozen now; one statement."""
    if not intents:
        return 0
    queued = await fetch_value(
        conn,
        query("delivery_enqueue"),
        {
            "event_ids": [i.event_id for i in intents],
            "hotel_ids": [i.hotel_id for i in intents],
            "booking_ids": [i.booking_id for i in intents],
            "operations": [i.operation for i in intents],
            "occurred_at": [i.occurred_at for i in intents],
            "xids": [xid_array(i.xids) for i in intents],
        },
    )
    return int(queued or 0)


class DeliveryStage:
    """Enqueues webhook events for reservation changes (the worker delivers them)."""

    name = "delivery"

    def project(self, changes: Sequence[Change]) -> list[DeliveryIntent]:
        return project(changes)

    async def apply(
        self, conn: psycopg.AsyncConnection[Any], intents: list[DeliveryIntent]
    ) -> None:
        await enqueue(conn, intents)
