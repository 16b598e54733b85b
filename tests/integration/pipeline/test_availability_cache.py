"""Availability cache: TTL refresh, missing nights, cleanup, manual refresh, read-through, stale."""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import Any

import msgspec
import psycopg
from psycopg_pool import AsyncConnectionPool

from bridge import cacheops
from bridge.cache.base import Availability, AvailabilityKey, Cache
from bridge.clock import HotelClock
from bridge.config import Settings
from bridge.embedded import free_port
from bridge.errors import Invalid, NotFound, Refused
from bridge.refresher import Refresher
from bridge.service import horizon
from bridge.snapshot import rebuild_availability
from tests.support.pipeline import cached, truth

TODAY = date.today()


async def build(url: str, cache: Cache, settings: Settings) -> None:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        await rebuild_availability(conn, cache, horizon(settings))


async def entry(cache: Cache, hotel_id: int, night: date, room_type_id: int) -> Availability:
    found = await cache.get_availability(hotel_id, night, night + timedelta(days=1), room_type_id)
    assert len(found) == 1
    return found[0]


def tampered(e: Availability, *, age: float) -> Availability:
    """The same key with a wrong count, written `age` seconds ago."""
    return msgspec.structs.replace(e, available=999, updated_at=time.time() - age)


async def room_type(url: str, hotel_id: int = 1) -> int:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute("SELECT min(id) FROM room_types WHERE hotel_id = %s", (hotel_id,))
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def test_expired_entries_and_missing_nights_are_refreshed(
    settings: Settings, cache: Cache
) -> None:
    url = settings.database_url
    assert url is not None
    await build(url, cache, settings)
    rt = await room_type(url)
    a, b, c = (TODAY + timedelta(days=d) for d in (3, 4, 5))
    expired = tampered(await entry(cache, 1, a, rt), age=16 * 60)
    young = tampered(await entry(cache, 1, b, rt), age=60)
    await cache.put_availability([expired, young], [AvailabilityKey(1, rt, c)])

    refresher = Refresher(url, cache, horizon(settings), scan_nights=10_000, fill_catalog=False)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        result = await refresher.tick(conn)
    assert result.refreshed == 2  # the expired entry and the missing night, nothing else
    assert (await entry(cache, 1, a, rt)).available != 999
    assert (await entry(cache, 1, c, rt)).updated_at > time.time() - 60
    assert (await entry(cache, 1, b, rt)).available == 999  # younger than the TTL: left alone
    await cache.put_availability([msgspec.structs.replace(young, available=0)])
    expected = await truth(url, settings)
    got = await cached(cache)
    assert {k: v for k, v in got.items() if k != (1, rt, b)} == {
        k: v for k, v in expected.items() if k != (1, rt, b)
    }


async def test_refresh_work_per_tick_is_bounded(settings: Settings, cache: Cache) -> None:
    url = settings.database_url
    assert url is not None
    refresher = Refresher(
        url, cache, horizon(settings), scan_nights=50, max_keys=30, fill_catalog=False
    )
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        first = await refresher.tick(conn)  # an empty cache: everything is missing
        second = await refresher.tick(conn)
    assert first.refreshed == 30 and second.refreshed == 30
    assert first.scanned_nights <= 62  # at most one window of 31 nights past the budget
    assert len(await cache.all_availability()) == 60


async def test_cleanup_removes_only_nights_older_than_a_month(
    settings: Settings, cache: Cache
) -> None:
    url = settings.database_url
    assert url is not None
    await build(url, cache, settings)
    rt = await room_type(url)
    recent = await entry(cache, 1, TODAY - timedelta(days=20), rt)
    old = [msgspec.structs.replace(recent, date=TODAY - timedelta(days=d)) for d in (32, 40, 200)]
    await cache.put_availability(old)
    refresher = Refresher(url, cache, horizon(settings), scan_nights=1, fill_catalog=False)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        first = await refresher.tick(conn)  # hotel 1
        await refresher.tick(conn)  # hotel 2
    assert first.cleaned == 3
    remaining = await cache.get_availability(1, TODAY - timedelta(days=400), TODAY)
    assert min(e.date for e in remaining) == TODAY - timedelta(days=31)
    assert await entry(cache, 1, TODAY - timedelta(days=20), rt) == recent


async def test_manual_refresh_recomputes_only_the_range_asked(
    settings: Settings, cache: Cache
) -> None:
    url = settings.database_url
    assert url is not None
    await build(url, cache, settings)
    rt = await room_type(url)
    nights = [TODAY + timedelta(days=d) for d in (10, 11, 12)]
    wrong = [tampered(await entry(cache, 1, n, rt), age=0) for n in nights]
    await cache.put_availability(wrong)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        result = await cacheops.refresh_availability(
            conn,
            cache,
            horizon(settings),
            hotel_id=1,
            room_type_id=rt,
            start_date=nights[0],
            end_date=nights[2],
            triggered_by="admin",
        )
        status = await cacheops.cache_status(conn, 1)
        cur = await conn.execute(
            "SELECT cache_type, hotel_id, status, triggered_by FROM booking_engine_cache_triggers"
        )
        triggers = await cur.fetchall()
    assert (result.status, result.entries_written) == ("completed", 2)
    assert [(await entry(cache, 1, n, rt)).available == 999 for n in nights] == [
        False,
        False,
        True,
    ]
    assert triggers == [("availability", 1, "completed", "admin")]
    assert status.availability.last_updated is not None
    assert status.availability.cache_ttl_minutes == 15


async def test_manual_refresh_rejects_bad_requests(settings: Settings, cache: Cache) -> None:
    url = settings.database_url
    assert url is not None
    rt_of_2 = await room_type(url, 2)
    cases: list[tuple[dict[str, Any], tuple[type[Refused], str]]] = [
        (
            {"hotel_id": 1, "room_type_id": None, "start_date": TODAY, "end_date": TODAY},
            (Invalid, "invalid_range"),
        ),
        (
            {
                "hotel_id": 77,
                "room_type_id": None,
                "start_date": TODAY,
                "end_date": TODAY + timedelta(days=1),
            },
            (NotFound, "hotel_not_found"),
        ),
        (
            {
                "hotel_id": 1,
                "room_type_id": rt_of_2,
                "start_date": TODAY,
                "end_date": TODAY + timedelta(days=1),
            },
            (NotFound, "room_type_not_found"),
        ),
    ]
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for request, expected in cases:
            try:
                await cacheops.refresh_availability(
                    conn, cache, horizon(settings), triggered_by="t", **request
                )
            except Refused as exc:
                assert (type(exc), exc.error) == expected
            else:
                raise AssertionError(f"accepted {request}")


async def test_read_through_fills_a_miss(settings: Settings, cache: Cache) -> None:
    url = settings.database_url
    assert url is not None
    start, end = TODAY + timedelta(days=5), TODAY + timedelta(days=35)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        read = await cacheops.read_availability(conn, cache, horizon(settings), 1, start, end)
    assert not read.stale
    assert len(read.entries) == 30 * 5 and read.refreshed == 150
    assert [e.date for e in read.entries] == sorted(e.date for e in read.entries)
    expected = await truth(url, settings)
    assert {
        (e.hotel_id, e.room_type_id, e.date): (e.sellable, e.taken, e.available)
        for e in read.entries
    } == {k: v for k, v in expected.items() if k[0] == 1 and start <= k[2] < end}
    assert len(await cache.get_availability(1, start, end)) == 150
    again = await cacheops.read_availability(None, cache, horizon(settings), 1, start, end)
    assert (again.stale, again.refreshed, again.entries) == (False, 0, read.entries)


async def test_database_down_answers_from_cache_marked_stale(
    settings: Settings, cache: Cache
) -> None:
    url = settings.database_url
    assert url is not None
    await build(url, cache, settings)
    start, end = TODAY + timedelta(days=1), TODAY + timedelta(days=8)
    old = [
        msgspec.structs.replace(e, updated_at=time.time() - 3600)
        for e in await cache.get_availability(1, start, end)
    ]
    await cache.put_availability(old)
    dead: AsyncConnectionPool[Any] = AsyncConnectionPool(
        f"postgresql://nobody@127.0.0.1:{free_port()}/pms", min_size=1, open=False
    )
    await dead.open(wait=False)
    try:
        read = await cacheops.read_availability(
            dead, cache, horizon(settings), 1, start, end, db_timeout=0.5
        )
    finally:
        await dead.close()
    assert read.stale and read.entries == old
    live = await cacheops.read_availability(
        None, cache, horizon(settings), 1, start, end, ttl_minutes=120, source_live=False
    )
    assert live.stale and live.entries == old


async def test_expired_entries_of_a_vanished_room_type_are_dropped(
    settings: Settings, cache: Cache
) -> None:
    url = settings.database_url
    assert url is not None
    await build(url, cache, settings)
    rt = await room_type(url)
    night = TODAY + timedelta(days=7)
    kept = await entry(cache, 1, night, rt)
    orphan = msgspec.structs.replace(kept, room_type_id=9999, updated_at=time.time() - 3600)
    await cache.put_availability([orphan])
    refresher = Refresher(url, cache, horizon(settings), scan_nights=10_000, fill_catalog=False)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        result = await refresher.tick(conn)
    assert result.refreshed == 1
    night_entries = await cache.get_availability(1, night, night + timedelta(days=1))
    assert 9999 not in {e.room_type_id for e in night_entries}
    assert kept in night_entries


async def test_tick_budget_grows_so_a_sweep_fits_in_half_the_ttl(
    settings: Settings, cache: Cache
) -> None:
    url = settings.database_url
    assert url is not None
    await build(url, cache, settings)
    # 2 hotels x 398 nights; a 6 s TTL and 5 s ticks leave one tick for the whole sweep.
    refresher = Refresher(
        url,
        cache,
        horizon(settings),
        ttl_minutes=0.1,
        interval=5.0,
        scan_nights=10,
        fill_catalog=False,
    )
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        result = await refresher.tick(conn)
    lo, hi = horizon(settings).bounds()
    assert result.scanned_nights == 2 * ((hi - lo).days + 1)


async def test_the_cache_covers_every_hotels_year_across_zones(
    settings: Settings, cache: Cache
) -> None:
    # Hotel 1 at UTC+14 and the others at UTC-12 are 26 hours apart: at any hour, hotel 1's
    # last sellable night is past the server's (UTC) year or the others' month back starts
    # before the server's, so a horizon of the server's date misses one of them.
    zoned = msgspec.structs.replace(settings, timezone="Etc/GMT+12", hotel_timezones="1=Etc/GMT-14")
    url = settings.database_url
    assert url is not None
    await build(url, cache, zoned)
    clock = HotelClock.of(zoned)
    rt1, rt2 = await room_type(url, 1), await room_type(url, 2)
    last = clock.today(1) + timedelta(days=zoned.horizon_days_ahead)
    first = clock.today(2) - timedelta(days=zoned.horizon_days_back)
    assert (await entry(cache, 1, last, rt1)).sellable > 0
    assert (await entry(cache, 2, first, rt2)).sellable > 0
