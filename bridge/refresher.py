"""Background refresher: TTL refresh of availability, cleanup of old nights, first fill of caches.

Capture keeps availability live; the TTL is the safety net the integration document asks
for. Each tick scans a bounded window of (hotel, nights) in the cache, recomputes the entries
older than the TTL and the nights missing inside the horizon (the horizon moves one night a
day), and removes nights older than the retention (a month), one hotel per tick. A full sweep
of the horizon takes far less than the TTL at the default settings.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from datetime import date, timedelta
from typing import Any

import msgspec
import psycopg
import redis.exceptions

from bridge import cacheops
from bridge.cache.base import AvailabilityKey, Cache
from bridge.capture.base import Source
from bridge.config import Settings
from bridge.horizon import Horizon
from bridge.periodic import every
from bridge.projectors.availability import AvailabilityDirty
from bridge.projectors.prices import PricesDirty
from bridge.sinks import availability as availability_sink
from bridge.sinks import catalog
from bridge.sinks import prices as prices_sink
from metrics import definitions as m

log = logging.getLogger("pms_bridge.refresher")

RECOVERABLE = (
    psycopg.Error,
    OSError,
    redis.exceptions.RedisError,
)


class TickResult(msgspec.Struct):
    scanned_nights: int = 0
    refreshed: int = 0
    cleaned: int = 0


class Refresher:
    """One tick every `interval` seconds: about `scan_nights` hotel-nights read (more when a
    sweep of the horizon would otherwise take over half the TTL), at most `max_keys` entries
    recomputed, one hotel's old nights removed."""

    def __init__(
        self,
        database_url: str,
        cache: Cache,
        horizon: Horizon,
        *,
        ttl_minutes: float = cacheops.AVAILABILITY_TTL_MINUTES,
        interval: float = 5.0,
        scan_nights: int = 400,
        max_keys: int = 2000,
        retention_days: int = 31,
        fill_catalog: bool = True,
    ) -> None:
        self.database_url = database_url
        self.cache = cache
        self.horizon = horizon
        self.ttl_seconds = ttl_minutes * 60
        self.interval = interval
        self.scan_nights = scan_nights
        self.max_keys = max_keys
        self.retention_days = retention_days
        self.fill_catalog = fill_catalog
        self._cursor: tuple[int, date] | None = None  # (hotel_id, next night) to scan
        self._cleaned: dict[int, date] = {}  # hotel -> cutoff already cleaned up to
        self._filled = False

    @classmethod
    def from_settings(cls, settings: Settings, cache: Cache) -> Refresher:
        from bridge.config import require_database

        return cls(
            require_database(settings),
            cache,
            Horizon.of(settings),
            ttl_minutes=settings.availability_ttl_minutes,
            interval=settings.refresh_interval,
            retention_days=settings.horizon_days_back,
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until `stop`; a lost database or cache only skips ticks."""
        await every(
            self.interval,
            stop,
            self.database_url,
            self.tick,
            recoverable=RECOVERABLE,
            log=log,
            skipped="refresher tick skipped",
        )

    async def tick(
        self, conn: psycopg.AsyncConnection[Any], today: date | None = None
    ) -> TickResult:
        if self.fill_catalog and not self._filled:
            await self.first_fill(conn)
            self._filled = True
        types: dict[int, list[int]] = {}
        for room_type in await availability_sink.all_room_types(conn):
            types.setdefault(room_type.hotel_id, []).append(room_type.room_type_id)
        result = TickResult()
        if not types:
            return result
        await self._refresh(conn, types, today, result)
        await self._cleanup(types, self.horizon.todays(today)[0], result)
        return result

    async def first_fill(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """An empty hotel / room-type / price cache is filled once; later updates follow policy."""
        if await self.cache.get_document(catalog.HOTEL_LIST, catalog.LIST_KEY) is None:
            await cacheops.update_hotels(conn, self.cache, hotel_id=None, triggered_by="startup")
            await cacheops.update_room_types(
                conn, self.cache, hotel_id=None, triggered_by="startup"
            )
        if not await self.cache.document_keys(prices_sink.PRICES):
            await prices_sink.apply(conn, self.cache, PricesDirty(everything=True), self.horizon)

    async def _refresh(
        self,
        conn: psycopg.AsyncConnection[Any],
        types: dict[int, list[int]],
        today: date | None,
        result: TickResult,
    ) -> None:
        lo, hi = self.horizon.bounds(today)
        hotels = sorted(types)
        hotel_id, night = self._cursor or (hotels[0], lo)
        if hotel_id not in types or not lo <= night <= hi:
            hotel_id, night = hotels[0], lo
        due: set[tuple[int, int, date]] = set()
        cutoff = time.time() - self.ttl_seconds
        touched: set[int] = set()
        # Enough per tick that a full sweep takes at most half the TTL, however many hotels.
        sweep = len(hotels) * ((hi - lo).days + 1)
        budget = max(self.scan_nights, math.ceil(sweep * self.interval / (self.ttl_seconds / 2)))
        while result.scanned_nights < budget and len(due) < self.max_keys:
            end = min(night + timedelta(days=min(31, budget)), hi + timedelta(days=1))
            entries = await self.cache.get_availability(hotel_id, night, end)
            have = {(e.room_type_id, e.date) for e in entries}
            for e in entries:
                if e.updated_at < cutoff:
                    due.add((hotel_id, e.room_type_id, e.date))
            for offset in range((end - night).days):
                day = night + timedelta(days=offset)
                for room_type_id in types[hotel_id]:
                    if (room_type_id, day) not in have:
                        due.add((hotel_id, room_type_id, day))
            if due:
                touched.add(hotel_id)
            result.scanned_nights += (end - night).days
            night = end
            if night > hi:
                later = [h for h in hotels if h > hotel_id]
                hotel_id, night = (later[0] if later else hotels[0]), lo
                if not later:
                    break  # one sweep ends here; the next tick starts the next one
        self._cursor = (hotel_id, night)
        if not due:
            return
        keys = set(sorted(due)[: self.max_keys])
        fresh, gone = await availability_sink.recompute(
            conn, AvailabilityDirty(keys=keys), self.horizon
        )
        await self.cache.put_availability(fresh, gone)
        result.refreshed = len(fresh) + len(gone)
        m.availability_refreshed.inc(result.refreshed)
        m.availability_keys_written.inc(result.refreshed)
        await catalog.mark_updated(
            conn, "availability", sorted(touched), cacheops.AVAILABILITY_TTL_MINUTES
        )

    async def _cleanup(self, types: dict[int, list[int]], today: date, result: TickResult) -> None:
        """Remove one hotel's nights older than the retention (read them, delete what is there);
        `today` is the earliest hotel's, so no hotel loses a night it still keeps."""
        cutoff = today - timedelta(days=self.retention_days)
        for hotel_id in sorted(types):
            done = self._cleaned.get(hotel_id)
            if done is not None and done >= cutoff:
                continue
            start = (
                done if done is not None else cutoff - timedelta(days=self.horizon.days_ahead + 31)
            )
            old = await self.cache.get_availability(hotel_id, start, cutoff)
            if old:
                await self.cache.put_availability(
                    [], [AvailabilityKey(e.hotel_id, e.room_type_id, e.date) for e in old]
                )
            self._cleaned[hotel_id] = cutoff
            result.cleaned += len(old)
            m.availability_cleaned.inc(len(old))
            return


def start_background(
    settings: Settings, cache: Cache, stop: asyncio.Event, source: Source, consumer: str
) -> list[asyncio.Task[None]]:
    """The active bridge's companions: this refresher, the delivery worker, the repair of
    capture gaps and, unless BRIDGE_RECONCILE_INTERVAL is 0, the scheduled reconciliation."""
    from bridge.delivery.worker import DeliveryWorker
    from bridge.reconcile import repair_gaps, run_periodically

    worker = DeliveryWorker.from_settings(settings)
    tasks = [
        asyncio.create_task(Refresher.from_settings(settings, cache).run(stop), name="refresher"),
        asyncio.create_task(worker.run(stop), name="delivery"),
        asyncio.create_task(repair_gaps(settings, cache, source, consumer, stop), name="gaps"),
    ]
    if settings.reconcile_interval > 0:
        reconciling = run_periodically(settings, cache, stop)
        tasks.append(asyncio.create_task(reconciling, name="reconcile"))
    return tasks
