"""Operator gauges read from the database on a timer: open deliveries, parked changes, the slot."""

# Read from the tables rather than counted per event: every process (leader, standby, API
# replica) exports the same truth, a restart loses nothing, and a leader that hangs cannot
# freeze the numbers that would page for it. The queries read small indexes, every few seconds.

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgspec
import psycopg

from bridge.capture import slot as slots
from bridge.config import Settings, require_database
from bridge.db import fetch_all, fetch_value
from bridge.periodic import every
from bridge.sql import query
from metrics import definitions as m

log = logging.getLogger("pms_bridge.observer")

INTERVAL_SECONDS = 5.0


class OpenDeliveries(msgspec.Struct, frozen=True):
    hotel_id: int
    pending: int
    failed: int
    retrying: int
    oldest_seconds: float


class Observer:
    """Refreshes the gauges every `interval` seconds; a lost database only skips refreshes."""

    def __init__(self, database_url: str, slot: str | None, interval: float = INTERVAL_SECONDS):
        self.database_url = database_url
        self.slot = slot  # logical mode's slot; None in trigger mode
        self.interval = interval
        self._hotels: set[str] = set()

    @classmethod
    def from_settings(cls, settings: Settings) -> Observer:
        slot = settings.slot_name if settings.capture == "logical" else None
        return cls(require_database(settings), slot)

    async def run(self, stop: asyncio.Event) -> None:
        await every(
            self.interval,
            stop,
            self.database_url,
            self.refresh,
            recoverable=(psycopg.Error, OSError),
            log=log,
            skipped="operator gauges not refreshed",
        )

    async def refresh(self, conn: psycopg.AsyncConnection[Any]) -> None:
        seen: set[str] = set()
        for row in await fetch_all(conn, OpenDeliveries, query("observe_deliveries")):
            hotel = str(row.hotel_id)
            seen.add(hotel)
            m.delivery_events_open.labels(hotel_id=hotel, status="pending").set(row.pending)
            m.delivery_events_open.labels(hotel_id=hotel, status="failed").set(row.failed)
            m.delivery_events_retrying.labels(hotel_id=hotel).set(row.retrying)
            m.delivery_oldest_open_seconds.labels(hotel_id=hotel).set(row.oldest_seconds)
        # A hotel with nothing open and sync turned off (or deleted) no longer has series.
        for hotel in self._hotels - seen:
            for status in ("pending", "failed"):
                m.delivery_events_open.remove(hotel, status)
            m.delivery_events_retrying.remove(hotel)
            m.delivery_oldest_open_seconds.remove(hotel)
        self._hotels = seen
        m.parked_changes.set(await fetch_value(conn, query("observe_parked")) or 0)
        if self.slot is not None:
            lag = await slots.slot_lag(conn, self.slot)
            m.slot_retained_bytes.set(lag.retained_bytes if lag else 0)
