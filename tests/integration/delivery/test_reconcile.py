"""Reconciliation finds and repairs what capture lost: bookings the booking engine was not told
of (or told an older state of), and availability cache entries that differ from the PMS."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, time, timedelta

import msgspec

from bridge.cache.base import Cache
from bridge.cache.redis import RedisCache
from bridge.config import Settings
from bridge.delivery.receiver import always_ok
from bridge.reconcile import reconcile, run_periodically
from bridge.startup import ensure_availability_built
from metrics import definitions as m
from tests.support.api_server import body, create_key, room_type_with_rooms, running_api
from tests.support.delivery import book, delivering, receiving, sql, synced, wait_for
from tests.support.pipeline import cached, run_once, truth
from tests.support.processes import cli

P = "/api/booking-engine"
# Past the seeded stays (they end about a month from today): the reservations under test are
# the only ones reconciliation looks at, so the seed's, never told, are not counted.
SINCE = date.today() + timedelta(days=45)
SINCE_TIME = datetime.combine(SINCE, time(), UTC)


async def start(settings: Settings, cache: Cache) -> None:
    """What `pms-bridge run` does at start: the availability cache built, then capture."""
    await ensure_availability_built(settings, cache)
    await run_once(settings, cache)


async def lose_capture(url: str) -> None:
    """What a truncated outbox (or a lost slot) leaves: changes the bridge never reads."""
    await sql(url, "DELETE FROM pms_bridge.outbox")


async def events_of(url: str, bookings: list[uuid.UUID]) -> int:
    rows = await sql(
        url,
        "SELECT count(*) FROM pms_bridge.delivery_events WHERE booking_id = ANY(%s)",
        (bookings,),
    )
    return int(rows[0][0])


async def test_lost_reservations_are_found_and_delivered(
    settings: Settings, redis_cache: RedisCache
) -> None:
    url = settings.database_url
    assert url is not None
    async with receiving(url, always_ok) as (receiver, _secret):
        first = [await book(url, nights=1, offset=50 + i) for i in range(3)]
        await start(settings, redis_cache)
        async with delivering(url):
            for booking in first:
                await wait_for(synced(url, booking))

        # The bridge is stopped; 20 reservations are written and their changes lost.
        lost = [await book(url, nights=1, offset=55 + i) for i in range(20)]
        await lose_capture(url)
        await run_once(settings, redis_cache)
        assert await events_of(url, lost) == 0
        assert (
            await sql(url, "SELECT 1 FROM booking_sync_status WHERE booking_id = ANY(%s)", (lost,))
            == []
        )

        dry = cli(settings, "reconcile", "--dry-run", "--since", SINCE.isoformat())
        assert dry.returncode == 0, dry.stderr
        lines = dry.stdout.splitlines()
        assert "reconcile: created 20" in lines
        assert "reconcile: updated 0" in lines and "reconcile: deleted 0" in lines
        assert "reconcile: total 20 (dry run, nothing changed)" in lines
        assert await events_of(url, lost) == 0

        report = await reconcile(settings, redis_cache, SINCE_TIME)
        assert (report.created, report.updated, report.cancelled, report.deleted) == (20, 0, 0, 0)
        assert report.availability > 0  # the lost stays' nights, not in the cache either
        assert await sql(
            url,
            "SELECT DISTINCT sync_status FROM booking_sync_status WHERE booking_id = ANY(%s)",
            (lost,),
        ) == [("pending",)]
        async with delivering(url):
            for booking in lost:
                await wait_for(synced(url, booking))
    told = [msgspec.json.decode(r.body) for r in receiver.applied]
    created = {e["reservation"]["id"] for e in told if e["operation"] == "created"}
    assert {str(b) for b in [*first, *lost]} == created
    assert len(told) == 23  # each once

    again = await reconcile(settings, redis_cache, SINCE_TIME)
    assert again.total == 0
    assert await cached(redis_cache) == await truth(url, settings)


async def test_updated_cancelled_and_deleted_reservations_are_repaired(
    settings: Settings, redis_cache: RedisCache
) -> None:
    url = settings.database_url
    assert url is not None
    async with receiving(url, always_ok) as (receiver, _secret):
        changed, cancelled, deleted = [await book(url, nights=1, offset=50 + i) for i in range(3)]
        await start(settings, redis_cache)
        async with delivering(url):
            for booking in (changed, cancelled, deleted):
                await wait_for(synced(url, booking))

        await sql(url, "UPDATE reservations SET comment = 'late' WHERE id = %s", (changed,))
        await sql(url, "UPDATE reservations SET status = 'cancelled' WHERE id = %s", (cancelled,))
        await sql(url, "DELETE FROM reservation_details WHERE reservation_id = %s", (deleted,))
        await sql(url, "DELETE FROM reservations WHERE id = %s", (deleted,))
        await lose_capture(url)

        dry = await reconcile(settings, redis_cache, SINCE_TIME, hotel_id=1, dry_run=True)
        assert (dry.created, dry.updated, dry.cancelled, dry.deleted) == (0, 1, 1, 1)
        assert dry.availability > 0  # the deleted stay's night is still taken in the cache
        assert await cached(redis_cache) != await truth(url, settings)

        report = await reconcile(settings, redis_cache, SINCE_TIME, hotel_id=1)
        assert (report.updated, report.cancelled, report.deleted) == (1, 1, 1)
        async with delivering(url):
            for booking in (changed, cancelled, deleted):
                await wait_for(synced(url, booking))
    last = {}
    for request in receiver.applied:
        event = msgspec.json.decode(request.body)
        last[event["reservation"]["id"]] = event
    assert last[str(changed)]["operation"] == "updated"
    assert last[str(changed)]["reservation"]["comment"] == "late"
    assert last[str(cancelled)]["operation"] == "cancelled"
    assert last[str(deleted)]["operation"] == "deleted"
    assert last[str(deleted)]["reservation"]["nights"] == []

    again = await reconcile(settings, redis_cache, SINCE_TIME, hotel_id=1)
    assert again.total == 0
    assert await cached(redis_cache) == await truth(url, settings)


async def test_a_corrupted_availability_entry_is_rewritten(
    settings: Settings, cache: Cache
) -> None:
    url = settings.database_url
    assert url is not None
    await start(settings, cache)
    entries = await cache.all_availability()
    good = entries[len(entries) // 2]
    bad = msgspec.structs.replace(good, available=good.available + 5, taken=good.taken + 1)
    await cache.put_availability([bad])

    dry = await reconcile(settings, cache, None, dry_run=True)
    assert (dry.availability, dry.bookings) == (1, 0)
    assert await cache.get_availability(good.hotel_id, good.date, good.date + timedelta(1)) != []
    assert (await cached(cache))[(good.hotel_id, good.room_type_id, good.date)] == (
        bad.sellable,
        bad.taken,
        bad.available,
    )

    report = await reconcile(settings, cache, None)
    assert report.availability == 1
    assert await cached(cache) == await truth(url, settings)
    assert (await reconcile(settings, cache, None)).total == 0


async def test_the_booking_engines_own_bookings_are_not_differences(
    settings: Settings, db_url: str, redis_cache: RedisCache
) -> None:
    key = await create_key(db_url, 1, "book")
    type_id, _ = await room_type_with_rooms(db_url, 1)
    check_in = SINCE + timedelta(days=10)
    async with receiving(db_url, always_ok) as (receiver, _secret):
        await start(settings, redis_cache)
        async with running_api(settings, redis_cache) as api, api.client(key) as http:
            created = await http.post(f"{P}/bookings", json=body(type_id, check_in))
            assert created.status_code == 201, created.text
            booking_id = created.json()["booking_id"]
            assert (await reconcile(settings, redis_cache, SINCE_TIME)).bookings == 0
            await run_once(settings, redis_cache)
            moved = await http.put(f"{P}/bookings/{booking_id}", json={"comment": "late"})
            assert moved.status_code == 200, moved.text
            await run_once(settings, redis_cache)
            report = await reconcile(settings, redis_cache, SINCE_TIME)
            assert report.total == 0
        assert await events_of(db_url, [uuid.UUID(booking_id)]) == 0

        # A change made in the PMS afterwards, and lost, is found.
        await sql(db_url, "UPDATE reservations SET comment = 'pms' WHERE id = %s", (booking_id,))
        await lose_capture(db_url)
        assert (await reconcile(settings, redis_cache, SINCE_TIME, dry_run=True)).updated == 1
    assert receiver.applied == []


async def test_the_running_bridge_reconciles_on_its_schedule(
    settings: Settings, redis_cache: RedisCache
) -> None:
    url = settings.database_url
    assert url is not None
    async with receiving(url, always_ok):
        await start(settings, redis_cache)
        lost = await book(url, nights=1, offset=50)
        await lose_capture(url)
        # A fraction of a second between runs, for the test; the scheduled run looks from the
        # horizon's first night, so the seed's stays are found too (none told): all repaired.
        every = msgspec.structs.replace(settings, reconcile_interval=0.0001)
        stop = asyncio.Event()
        task = asyncio.create_task(run_periodically(every, redis_cache, stop))
        try:
            await wait_for(lambda: has_event(url, lost))
        finally:
            stop.set()
            await task
    assert m.reconcile_last_run._value.get() > 0


async def has_event(url: str, booking: uuid.UUID) -> bool:
    return await events_of(url, [booking]) == 1


async def test_a_slot_lost_while_the_bridge_is_down_is_made_up_for(
    settings: Settings, redis_cache: RedisCache
) -> None:
    """A lost capture as a new user meets it, logical mode, through `run`'s own tasks: the
    bridge stops, 20 reservations are written, the slot is lost; on start the slot is made
    anew, said and counted, and reconciliation from the last checkpoint delivers the 20, each
    once."""
    settings = msgspec.structs.replace(settings, capture="logical", heartbeat_seconds=0.0)
    url = settings.database_url
    assert url is not None

    def recreated() -> float:
        value = m.REGISTRY.get_sample_value(
            "pms_bridge_slot_recreated_total", {"reason": "missing"}
        )
        return value or 0.0

    before = recreated()

    async def slot_made() -> bool:
        rows = await sql(
            url, "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (settings.slot_name,)
        )
        return bool(rows)

    async with receiving(url, always_ok) as (receiver, _secret):
        async with running_api(settings, redis_cache, run_bridge=True):
            # A first start captures from its new slot on: the booking comes after it.
            await wait_for(slot_made)
            first = await book(url, nights=1, offset=50)
            await wait_for(synced(url, first))

        lost = [await book(url, nights=1, offset=52 + i) for i in range(20)]
        await sql(url, "SELECT pg_drop_replication_slot(%s)", (settings.slot_name,))

        async with running_api(settings, redis_cache, run_bridge=True):
            for booking in lost:
                await wait_for(synced(url, booking), limit=120.0)
    assert recreated() == before + 1
    told = [msgspec.json.decode(r.body) for r in receiver.applied]
    created = [e["reservation"]["id"] for e in told if e["operation"] == "created"]
    for booking in lost:
        assert created.count(str(booking)) == 1


async def test_a_gap_recorded_by_a_bridge_that_stopped_is_repaired_on_the_next_start(
    settings: Settings, redis_cache: RedisCache
) -> None:
    """The gap is kept with the checkpoint until reconciled: a bridge that recorded one and
    stopped before reconciling (stood in for by the row it leaves) repairs it on its next
    start, then clears it."""
    url = settings.database_url
    assert url is not None
    async with receiving(url, always_ok) as (_receiver, _secret):
        async with running_api(settings, redis_cache, run_bridge=True):
            first = await book(url, nights=1, offset=50)
            await wait_for(synced(url, first))
        lost = [await book(url, nights=1, offset=52 + i) for i in range(5)]
        await lose_capture(url)
        recorded = await sql(
            url,
            "UPDATE pms_bridge.checkpoint SET capture_gap_since = now() - interval '1 minute'"
            " WHERE consumer = %s RETURNING 1",
            (f"trigger:{settings.consumer_name}",),
        )
        assert recorded == [(1,)]
        async with running_api(settings, redis_cache, run_bridge=True):
            for booking in lost:
                await wait_for(synced(url, booking))

            async def cleared() -> bool:
                rows = await sql(
                    url,
                    "SELECT capture_gap_since FROM pms_bridge.checkpoint WHERE consumer = %s",
                    (f"trigger:{settings.consumer_name}",),
                )
                return rows == [(None,)]

            await wait_for(cleared)


async def test_reservations_held_before_the_bridge_came_are_recorded_not_sent(
    settings: Settings,
) -> None:
    """The seed's reservations were made before the bridge was installed and never changed
    since: the booking engine was never to be told of them, so they are no difference; they
    are recorded as told, once."""
    url = settings.database_url
    assert url is not None
    async with receiving(url, always_ok):
        dry = await reconcile(settings, None, None, dry_run=True)
        assert (dry.bookings, dry.known > 0) == (0, True)
        assert any("known before the bridge" in line for line in dry.lines())
        first = await reconcile(settings, None, None)
        again = await reconcile(settings, None, None)
    assert (first.bookings, first.known) == (0, dry.known)
    assert (again.bookings, again.known) == (0, 0)
    assert await sql(url, "SELECT count(*) FROM pms_bridge.delivery_events") == [(0,)]
