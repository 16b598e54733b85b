"""Reconciliation: the PMS against what the booking engine was told and the caches hold."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import msgspec
import psycopg
import redis.exceptions

from bridge import checkpoint, shared_version
from bridge.cache.base import Availability, AvailabilityKey, Cache
from bridge.capture.base import Source
from bridge.config import Settings, require_database
from bridge.db import connect, fetch_all, fetch_value, fetch_values
from bridge.delivery import events
from bridge.delivery.events import DeliveryIntent, Operation
from bridge.errors import Conflict
from bridge.horizon import Horizon
from bridge.live_status import Moves
from bridge.projectors.availability import AvailabilityDirty
from bridge.projectors.sync_status import SyncMark
from bridge.sinks import availability as availability_sink
from bridge.sinks import sync_status
from bridge.sql import query
from metrics import definitions as m

log = logging.getLogger("pms_bridge.reconcile")

# The booking_sync_status operation each repair records, as capture would have.
_SYNC_OP: dict[Operation, Literal["insert", "update", "delete"]] = {
    "created": "insert",
    "updated": "update",
    "cancelled": "update",
    "deleted": "delete",
}


class Report(msgspec.Struct, kw_only=True):
    """Differences found per kind; repaired unless `dry_run`."""

    created: int = 0
    updated: int = 0
    cancelled: int = 0
    deleted: int = 0
    availability: int = 0
    # Reservations the PMS held before the bridge came, recorded as told: not differences.
    known: int = 0
    # False when no cache was given (the CLI without REDIS_URL cannot see `run`'s cache).
    availability_checked: bool = True
    dry_run: bool = False

    @property
    def bookings(self) -> int:
        return self.created + self.updated + self.cancelled + self.deleted

    @property
    def total(self) -> int:
        return self.bookings + self.availability

    def lines(self) -> list[str]:
        """One line per kind of difference and a total, for the CLI and the log."""
        found = [
            f"created {self.created}",
            f"updated {self.updated}",
            f"cancelled {self.cancelled}",
            f"deleted {self.deleted}",
            f"availability {self.availability}"
            if self.availability_checked
            else "availability not checked (REDIS_URL not set: the cache is inside `run`)",
        ]
        done = "dry run, nothing changed" if self.dry_run else "repaired"
        if self.known:
            held = "to be recorded as told" if self.dry_run else "recorded as told"
            found.append(f"known before the bridge {self.known} ({held}, not sent)")
        return [*found, f"total {self.total} ({done})"]


class BookingDifference(msgspec.Struct, frozen=True):
    hotel_id: int
    booking_id: uuid.UUID
    # An event's operation, or "known": held by the PMS before the bridge came, never told.
    operation: Operation | Literal["known"]
    told: str | None
    digest: str | None
    status: str | None


def event_id(difference: BookingDifference) -> uuid.UUID:
    """Derived from what was told and what is now: a second run (or one racing this one)
    enqueues nothing new, and a reservation changed back to a state told before still gets
    an event (the pair differs)."""
    return uuid.uuid5(
        events.NAMESPACE,
        f"reconcile:{difference.hotel_id}:{difference.booking_id}:"
        f"{difference.told}:{difference.digest}",
    )


async def booking_differences(
    conn: psycopg.AsyncConnection[Any], since: date | None, hotel_id: int | None
) -> list[BookingDifference]:
    params = {"since": since, "hotel_id": hotel_id}
    return await fetch_all(conn, BookingDifference, query("reconcile_bookings"), params)


async def record_known(conn: psycopg.AsyncConnection[Any], known: list[BookingDifference]) -> None:
    await conn.execute(
        query("reconcile_record_known"),
        {
            "hotel_ids": [d.hotel_id for d in known],
            "booking_ids": [d.booking_id for d in known],
            "digests": [d.digest for d in known],
            "statuses": [d.status for d in known],
        },
    )


async def tell(conn: psycopg.AsyncConnection[Any], intents: list[DeliveryIntent]) -> int:
    """Through the capture's own paths, in one transaction: the sync rows marked pending and
    the events enqueued (which records their digests), each after any open event of its
    booking. Returns the events enqueued."""
    marks = [
        SyncMark(i.hotel_id, i.booking_id, _SYNC_OP[i.operation], i.occurred_at) for i in intents
    ]
    async with conn.transaction():
        await sync_status.apply(conn, marks)
        return await events.enqueue(conn, intents)


async def repair_bookings(
    conn: psycopg.AsyncConnection[Any], differences: list[BookingDifference]
) -> None:
    """Each difference told as capture would have (`tell`); `known` ones are never sent."""
    now = datetime.now(UTC)
    intents: list[DeliveryIntent] = []
    for d in differences:
        operation = d.operation
        if operation == "known":
            continue  # recorded by record_known, never sent
        intents.append(DeliveryIntent(event_id(d), d.hotel_id, d.booking_id, operation, now))
    await tell(conn, intents)


class NotSyncing(Conflict):
    """The hotel has no booking_engine_config row with sync_enabled: nothing is sent to it."""

    def __init__(self, detail: str) -> None:
        super().__init__("conflict", detail)


class Resent(msgspec.Struct, kw_only=True):
    hotel_id: int
    # Events enqueued: one `updated` event per reservation, carrying its current state.
    queued: int
    # Reservations of the hotel whose failed event holds their later ones (this resend's
    # among them) until `sync retry` requeues it.
    held_by_failed: int


async def resend(conn: psycopg.AsyncConnection[Any], hotel_id: int, since: date | None) -> Resent:
    """Every reservation of the hotel (whose stay ends on or after `since`) told again, as an
    `updated` event with its current state, through the normal delivery path: queued behind
    its open events, so order per reservation holds. For a booking engine that lost data."""
    if not await fetch_value(conn, query("delivery_hotel_syncs"), {"hotel_id": hotel_id}):
        raise NotSyncing(f"hotel {hotel_id} has no booking_engine_config row with sync_enabled")
    params = {"hotel_id": hotel_id, "since": since}
    booking_ids = await fetch_values(conn, query("resend_bookings"), params)
    now = datetime.now(UTC)
    # Fresh ids: the booking engine is to get every booking again, even one told the same
    # state before (reconciliation's ids would repeat those).
    intents = [
        DeliveryIntent(uuid.uuid4(), hotel_id, booking_id, "updated", now)
        for booking_id in booking_ids
    ]
    queued = await tell(conn, intents)
    held = await fetch_value(conn, query("delivery_failed_bookings"), {"hotel_id": hotel_id})
    return Resent(hotel_id=hotel_id, queued=queued, held_by_failed=int(held or 0))


def _state(entry: Availability) -> tuple[int, int, int, int]:
    return entry.sellable, entry.taken, entry.available, entry.overbooked


async def availability_differences(
    conn: psycopg.AsyncConnection[Any],
    cache: Cache,
    horizon: Horizon,
    hotel_id: int | None,
    *,
    repair: bool,
    moves: Moves | None = None,
) -> int:
    """Each hotel's cached horizon against a recompute; differing and missing entries are
    rewritten, entries that should not exist removed (and their hotels told to `moves`). The
    cache is read before the recompute, so a repair never writes an older state over what
    capture wrote meanwhile."""
    params = {"hotel_id": hotel_id}
    room_types = await fetch_all(
        conn, availability_sink.HotelRoomType, query("reconcile_room_types"), params
    )
    by_hotel: dict[int, set[tuple[int, int]]] = {}
    for t in room_types:
        by_hotel.setdefault(t.hotel_id, set()).add((t.hotel_id, t.room_type_id))
    lo, hi = horizon.bounds()
    found = 0
    for hotel, types in by_hotel.items():
        cached = {
            (e.room_type_id, e.date): e
            for e in await cache.get_availability(hotel, lo, hi + timedelta(days=1))
        }
        entries, _gone = await availability_sink.recompute(
            conn, AvailabilityDirty(room_types=types), horizon
        )
        rewrite = [
            e
            for e in entries
            if (had := cached.pop((e.room_type_id, e.date), None)) is None
            or _state(had) != _state(e)
        ]
        # What is left in the cache is a night or room type the PMS no longer has.
        # (the recompute's deletes are among them, when they were cached).
        remove = [AvailabilityKey(hotel, room_type, night) for room_type, night in cached]
        found += len(rewrite) + len(remove)
        if repair and (rewrite or remove):
            await cache.put_availability(rewrite, remove)
            m.availability_keys_written.inc(len(rewrite) + len(remove))
            if moves is not None:
                moves.hotels([hotel])
    return found


async def reconcile(
    settings: Settings,
    cache: Cache | None,
    since: datetime | None,
    hotel_id: int | None = None,
    dry_run: bool = False,
) -> Report:
    """Compare and (unless dry_run) repair bookings whose stay ends at or after `since`
    (all when None) and the availability cache (skipped when `cache` is None); after a
    capture gap `repair_gaps` calls it for all."""
    async with await connect(require_database(settings), autocommit=True) as conn:
        found_rows = await booking_differences(
            conn, since.date() if since is not None else None, hotel_id
        )
        known = [d for d in found_rows if d.operation == "known"]
        differences = [d for d in found_rows if d.operation != "known"]
        if known and not dry_run:
            await record_known(conn, known)
        if differences and not dry_run:
            await repair_bookings(conn, differences)
        found = 0
        if cache is not None:
            moves = Moves()
            found = await availability_differences(
                conn, cache, Horizon.of(settings), hotel_id, repair=not dry_run, moves=moves
            )
            repaired = moves.written().hotels
            if repaired:
                # The memoized answers of repaired hotels, in every API process.
                await shared_version.publish(settings.redis_url, settings.redis_prefix, repaired)
    counts = Counter(d.operation for d in differences)
    report = Report(
        created=counts["created"],
        updated=counts["updated"],
        cancelled=counts["cancelled"],
        deleted=counts["deleted"],
        availability=found,
        availability_checked=cache is not None,
        dry_run=dry_run,
        known=len(known),
    )
    m.reconcile_differences.labels(kind="booking").inc(report.bookings)
    m.reconcile_differences.labels(kind="availability").inc(report.availability)
    m.reconcile_last_run.set(time.time())
    if report.total:
        log.warning("reconcile: %s", "; ".join(report.lines()))
    return report


async def run_periodically(settings: Settings, cache: Cache, stop: asyncio.Event) -> None:
    """Every BRIDGE_RECONCILE_INTERVAL hours, the stays the caches keep (from the horizon's
    first night) are reconciled: the safety net under capture. A failed run waits for the next."""
    interval = settings.reconcile_interval * 3600
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
        if stop.is_set():
            return
        first = Horizon.of(settings).bounds()[0]
        try:
            await reconcile(settings, cache, datetime.combine(first, datetime.min.time(), UTC))
        except (psycopg.Error, OSError, redis.exceptions.RedisError) as exc:
            log.warning("scheduled reconcile failed: %s", exc)


# How often the bridge looks whether its capture has recorded a gap to repair.
GAP_POLL_SECONDS = 1.0


async def repair_gaps(
    settings: Settings, cache: Cache, source: Source, consumer: str, stop: asyncio.Event
) -> None:
    """After a capture gap (a logical slot made anew, the changes committed meanwhile never
    captured since the last checkpoint's time), reconciles every reservation: what the
    booking engine was not told is delivered, the caches are checked. A failed run is tried
    again."""
    while not stop.is_set():
        since = source.capture_gap_since
        if since is not None:
            try:
                # The PMS keeps no time of change: a stay of any dates, even one that ended
                # before the gap began, may have been booked or changed in it.
                report = await reconcile(settings, cache, None)
                async with await connect(require_database(settings), autocommit=True) as conn:
                    await checkpoint.gap_repaired(conn, consumer, since)
            except (psycopg.Error, OSError, redis.exceptions.RedisError) as exc:
                log.warning("reconcile after the capture gap since %s failed: %s", since, exc)
            else:
                log.warning("capture gap since %s reconciled: %s", since, "; ".join(report.lines()))
                if source.capture_gap_since == since:
                    source.capture_gap_since = None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), GAP_POLL_SECONDS)
