"""Hotel and room-type caches: manual by default (pending counted), auto live, smart cleanup."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import msgspec
import psycopg

from bridge import cacheops
from bridge.cache import RedisCache
from bridge.cache.base import Cache
from bridge.config import Settings
from bridge.errors import NotFound
from tests.support.pipeline import run_once

ROOT = Path(__file__).resolve().parents[3]


async def sql(url: str, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute(statement, params)
        return await cur.fetchall() if cur.description else []


async def fill(url: str, cache: Cache) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for update in (cacheops.update_hotels, cacheops.update_room_types):
            result = await update(conn, cache, hotel_id=None, triggered_by="test")
            assert result.status == "completed"


async def status(url: str, hotel_id: int | None = None) -> cacheops.CacheStatusResponse:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        return await cacheops.cache_status(conn, hotel_id)


async def test_manual_cache_stays_old_until_update_and_counts_pending(
    settings: Settings, cache: Cache
) -> None:
    url = settings.database_url
    assert url is not None
    await fill(url, cache)
    before = await cacheops.get_hotel(cache, 1)
    assert before is not None and before.name == "Demo Hotel 1"

    await sql(url, "UPDATE hotels SET name = 'Renamed' WHERE id = 1")
    await sql(url, "UPDATE hotels SET phone_number = '+81-1' WHERE id = 1")
    await sql(url, "INSERT INTO room_types (hotel_id, name) VALUES (1, 'Loft')")
    await run_once(settings, cache)

    still = await cacheops.get_hotel(cache, 1)
    assert still is not None and still.name == "Demo Hotel 1"
    types = await cacheops.get_room_types(cache, 1)
    assert types is not None and "Loft" not in {t.name for t in types}
    overall = await status(url)
    assert (overall.hotels.pending_changes, overall.hotels.stale) == (2, True)
    assert (overall.room_types.pending_changes, overall.room_types.stale) == (1, True)
    other = await status(url, 2)
    assert (other.hotels.pending_changes, other.hotels.stale) == (0, False)

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        result = await cacheops.update_hotels(conn, cache, hotel_id=1, triggered_by="admin")
        await cacheops.update_room_types(conn, cache, hotel_id=1, triggered_by="admin")
    assert (result.status, result.hotel_id, result.triggered_by) == ("completed", 1, "admin")
    after = await cacheops.get_hotel(cache, 1)
    assert after is not None and after.name == "Renamed" and after.phone_number == "+81-1"
    types = await cacheops.get_room_types(cache, 1)
    assert types is not None and "Loft" in {t.name for t in types}
    listed = {h.id: h.name for h in await cacheops.get_hotels(cache)}
    assert listed == {1: "Renamed", 2: "Demo Hotel 2"}
    overall = await status(url)
    assert (overall.hotels.pending_changes, overall.hotels.stale) == (0, False)
    assert (overall.room_types.pending_changes, overall.room_types.stale) == (0, False)

    rows = await sql(
        url,
        "SELECT cache_type, hotel_id, triggered_by, status, completed_at IS NOT NULL"
        " FROM booking_engine_cache_triggers ORDER BY id",
    )
    assert rows[-2:] == [
        ("hotels", 1, "admin", "completed", True),
        ("room_types", 1, "admin", "completed", True),
    ]
    assert all(r[3] == "completed" for r in rows)


async def test_auto_policy_applies_hotel_and_room_type_changes_live(
    settings: Settings, cache: Cache
) -> None:
    url = settings.database_url
    assert url is not None
    await fill(url, cache)
    auto = msgspec.structs.replace(settings, catalog_policy="auto")
    await sql(url, "UPDATE hotels SET name = 'Live' WHERE id = 2")
    await sql(url, "INSERT INTO room_types (hotel_id, name) VALUES (2, 'Loft')")
    before = {t.id: t.sellable_rooms for t in await cacheops.get_room_types(cache, 2) or []}
    rows = await sql(
        url,
        "UPDATE rooms SET for_sale = false WHERE hotel_id = 2 AND id = (SELECT min(id) FROM"
        " rooms WHERE hotel_id = 2 AND for_sale AND NOT is_staff_room) RETURNING room_type_id",
    )
    await run_once(auto, cache)

    hotel = await cacheops.get_hotel(cache, 2)
    assert hotel is not None and hotel.name == "Live"
    assert {h.id: h.name for h in await cacheops.get_hotels(cache)} == {
        1: "Demo Hotel 1",
        2: "Live",
    }
    types = await cacheops.get_room_types(cache, 2)
    assert types is not None and "Loft" in {t.name for t in types}
    changed_type = rows[0][0]
    after = {t.id: t.sellable_rooms for t in types}
    assert after[changed_type] == before[changed_type] - 1
    overall = await status(url)
    assert overall.hotels.pending_changes == 0 and not overall.hotels.stale


async def test_smart_cleanup_removes_only_orphans(settings: Settings, cache: Cache) -> None:
    url = settings.database_url
    assert url is not None
    await sql(
        url,
        "INSERT INTO booking_engine_amenities (hotel_id, name, category, sort_order)"
        " VALUES (1, 'Onsen', 'bath', 2), (1, 'Wi-Fi', 'internet', 1), (2, 'Parking', NULL, 0)",
    )
    await sql(
        url,
        "INSERT INTO booking_engine_hotel_images (hotel_id, url, is_primary, sort_order)"
        " VALUES (1, 'https://img.test/a.jpg', false, 0), (1, 'https://img.test/b.jpg', true, 5)",
    )
    await sql(url, "INSERT INTO room_types (hotel_id, name) VALUES (1, 'Temporary')")
    await fill(url, cache)
    amenities = await cacheops.get_amenities(cache, 1)
    assert amenities is not None and [a.name for a in amenities] == ["Wi-Fi", "Onsen"]
    images = await cacheops.get_hotel_images(cache, 1)
    assert images is not None and images[0].url == "https://img.test/b.jpg"
    kept_types = await cacheops.get_room_types(cache, 2)

    # Hotel 2 disappears from the PMS (its rows cascade); a room type of hotel 1 too.
    await sql(url, "DELETE FROM hotels WHERE id = 2")
    await sql(url, "DELETE FROM room_types WHERE hotel_id = 1 AND name = 'Temporary'")
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        hotels = await cacheops.update_hotels(conn, cache, hotel_id=None, triggered_by="t")
        types = await cacheops.update_room_types(conn, cache, hotel_id=None, triggered_by="t")
    assert hotels.entries_removed == 3  # hotel 2's hotel, amenities and images documents
    assert types.entries_removed == 1  # hotel 2's room-type list

    assert await cacheops.get_hotel(cache, 2) is None
    assert await cacheops.get_amenities(cache, 2) is None
    assert await cacheops.get_room_types(cache, 2) is None
    assert kept_types is not None
    assert [h.id for h in await cacheops.get_hotels(cache)] == [1]
    hotel_1 = await cacheops.get_hotel(cache, 1)
    assert hotel_1 is not None and hotel_1.name == "Demo Hotel 1"
    remaining = await cacheops.get_room_types(cache, 1)
    assert remaining is not None
    assert [t.name for t in remaining] == ["Single", "Double", "Twin", "Deluxe", "Suite"]
    assert sum(t.sellable_rooms for t in remaining) > 0


async def test_unknown_hotel_is_a_clear_error(settings: Settings, cache: Cache) -> None:
    url = settings.database_url
    assert url is not None
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        try:
            await cacheops.update_hotels(conn, cache, hotel_id=999, triggered_by="t")
        except NotFound as exc:
            assert exc.error == "hotel_not_found"
        else:
            raise AssertionError("no error for an unknown hotel")
    rows = await sql(url, "SELECT count(*) FROM booking_engine_cache_triggers")
    assert rows == [(0,)]


async def test_cache_status_has_the_documents_shape(settings: Settings, cache: Cache) -> None:
    url = settings.database_url
    assert url is not None
    empty = msgspec.to_builtins(await status(url))
    assert set(empty) == {"hotels", "room_types", "availability"}
    assert empty["hotels"]["stale"] is True and empty["hotels"]["last_updated"] is None
    await fill(url, cache)
    shown = msgspec.to_builtins(await status(url))
    for cache_type, ttl in (("hotels", 1440), ("room_types", 1440), ("availability", 15)):
        entry = shown[cache_type]
        assert {"last_updated", "is_active", "cache_ttl_minutes"} <= set(entry)
        assert entry["cache_ttl_minutes"] == ttl
    assert shown["hotels"]["is_active"] is True
    assert shown["hotels"]["last_updated"].endswith("Z")


async def run_cli(settings: Settings, *args: str) -> tuple[int, str]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url or "",
        "REDIS_URL": settings.redis_url or "",
        "BRIDGE_REDIS_PREFIX": settings.redis_prefix,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bridge.cli",
        *args,
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    return process.returncode or 0, out.decode()


async def test_cli_cache_update_for_one_hotel(settings: Settings, redis_cache: RedisCache) -> None:
    url = settings.database_url
    assert url is not None
    code, out = await run_cli(settings, "cache", "update", "hotels", "--hotel", "2")
    assert code == 0, out
    assert "cache hotels: completed for hotel 2" in out
    assert await cacheops.get_hotel(redis_cache, 1) is None
    hotel = await cacheops.get_hotel(redis_cache, 2)
    assert hotel is not None and hotel.name == "Demo Hotel 2"
    code, out = await run_cli(settings, "cache", "update", "room-types")
    assert code == 0 and "cache room_types: completed for all hotels" in out
    assert await cacheops.get_room_types(redis_cache, 1) is not None
    code, out = await run_cli(settings, "cache", "update", "hotels", "--hotel", "9")
    assert code == 2 and "hotel 9 does not exist" in out
    rows = await sql(url, "SELECT triggered_by, status FROM booking_engine_cache_triggers")
    assert rows == [("cli", "completed"), ("cli", "completed")]
