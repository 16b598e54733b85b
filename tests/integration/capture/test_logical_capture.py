"""Logical capture end to end: moved nights and rooms, ADD COLUMN, TRUNCATE, streamed commits."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

import msgspec
import psycopg

from bridge.cache.memory import MemoryCache
from bridge.config import Settings
from bridge.service import horizon
from bridge.snapshot import rebuild_availability
from tests.support.logical import Harness, book, two_rooms_of_different_types
from tests.support.pipeline import cached, drain


async def test_the_snapshot_hand_off_builds_the_cache_when_the_slot_is_created(
    harness: Harness,
) -> None:
    assert harness.bridge.source.snapshot_taken is not None  # type: ignore[attr-defined]
    assert await harness.in_sync()


async def test_a_night_moved_between_rooms_and_dates_frees_the_old_one(harness: Harness) -> None:
    h = harness
    first = date.today() + timedelta(days=12)
    second = first + timedelta(days=3)
    room_a, type_a, room_b, type_b = await two_rooms_of_different_types(h, 1, (first, second))
    before_a = await h.entry(1, type_a, first)
    before_b = await h.entry(1, type_b, second)
    detail = await book(h, 1, room_a, first)

    async def booked() -> bool:
        return (await h.entry(1, type_a, first))[1] == before_a[1] + 1

    await h.step_until(booked)
    await h.sql(
        "UPDATE reservation_details SET room_id = %s, date = %s WHERE hotel_id = 1 AND id = %s",
        (room_b, second, detail),
    )

    async def moved() -> bool:
        return (await h.entry(1, type_b, second))[1] == before_b[1] + 1

    await h.step_until(moved)
    # The old room type and night are free again: only the old row could say which they were.
    assert await h.entry(1, type_a, first) == before_a
    assert await h.in_sync()
    update = next(c for c in h.recorder.changes if c.op == "update")
    assert update.old is not None and update.old["room_id"] == room_a
    assert update.old["date"] == first
    assert update.new is not None and update.new["date"] == second


async def test_a_room_moved_to_another_type_moves_its_capacity(harness: Harness) -> None:
    h = harness
    room_a, type_a, _room_b, type_b = await two_rooms_of_different_types(h, 2)
    night = date.today() + timedelta(days=5)
    sellable_a = (await h.entry(2, type_a, night))[0]
    await h.sql(
        "UPDATE rooms SET room_type_id = %s WHERE hotel_id = 2 AND id = %s", (type_b, room_a)
    )

    async def moved() -> bool:
        return (await h.entry(2, type_a, night))[0] == sellable_a - 1

    await h.step_until(moved)
    assert await h.in_sync()


async def test_add_column_while_streaming_is_decoded_with_the_new_column(harness: Harness) -> None:
    h = harness
    room_a, _type_a, room_b, _type_b = await two_rooms_of_different_types(h, 1)
    night = date.today() + timedelta(days=30)
    detail = await book(h, 1, room_a, night)

    async def seen() -> bool:
        return any(c.pk.get("id") == detail for c in h.recorder.changes)

    await h.step_until(seen)
    await h.sql("ALTER TABLE reservation_details ADD COLUMN bridge_note TEXT DEFAULT 'added'")
    await h.sql(
        "UPDATE reservation_details SET room_id = %s, bridge_note = 'moved'"
        " WHERE hotel_id = 1 AND id = %s",
        (room_b, detail),
    )

    async def updated() -> bool:
        return any(c.op == "update" for c in h.recorder.changes)

    await h.step_until(updated)
    update = next(c for c in h.recorder.changes if c.op == "update")
    assert update.new is not None and update.new["bridge_note"] == "moved"
    assert update.old is not None and update.old["bridge_note"] == "added"
    assert update.old["room_id"] == room_a
    assert h.bridge.parked == 0
    assert await h.in_sync()


async def test_truncate_of_a_watched_table_recomputes_what_it_touched(harness: Harness) -> None:
    h = harness
    night = date.today() + timedelta(days=2)
    taken_before = sum(v[1] for k, v in (await cached(h.cache)).items() if k[2] == night)
    assert taken_before > 0
    await h.sql("TRUNCATE reservation_details CASCADE")

    async def truncated() -> bool:
        return any(c.op == "truncate" for c in h.recorder.changes)

    await h.step_until(truncated)
    truncates = [c for c in h.recorder.changes if c.op == "truncate"]
    assert [c.table for c in truncates] == ["reservation_details"]
    assert all(v[1] == 0 for v in (await cached(h.cache)).values())
    assert await h.in_sync()


async def test_a_transaction_streamed_before_its_commit_arrives_whole(settings: Settings) -> None:
    # A tiny decoding memory makes the server stream the transaction while it is in flight.
    url = f"{settings.database_url}?options=-c%20logical_decoding_work_mem%3D64kB"
    h = Harness(msgspec.structs.replace(settings, database_url=url))
    await h.bridge._open(asyncio.Event())
    try:
        night = date.today() + timedelta(days=40)
        rows = await h.sql(
            "WITH c AS (SELECT id FROM clients LIMIT 1), r AS (INSERT INTO reservations (id,"
            " hotel_id, reservation_client_id, check_in, check_out, number_of_people, status)"
            " SELECT gen_random_uuid(), 1, c.id, %s, %s, 1, 'confirmed'"
            " FROM c, generate_series(1, 1500) RETURNING id) SELECT count(*) FROM r",
            (night, night + timedelta(days=1)),
        )
        assert rows == [(1500,)]

        async def arrived() -> bool:
            return len(h.recorder.changes) >= 1500

        await h.step_until(arrived)
        batch = next(b for b in h.recorder.batches if b)
        assert len(batch) == 1500 and len({c.xid for c in batch}) == 1
        stats = await h.sql(
            "SELECT stream_txns FROM pg_stat_replication_slots WHERE slot_name = %s",
            (h.settings.slot_name,),
        )
        assert stats and stats[0][0] >= 1
        assert await h.in_sync()
    finally:
        await h.bridge._close()


async def test_replayed_transactions_are_applied_once(settings: Settings) -> None:
    """A restart before the flush LSN reached the server replays; the checkpoint drops it."""
    h = Harness(settings)
    stop = asyncio.Event()
    await h.bridge._open(stop)
    room_a, _type_a, _room_b, _type_b = await two_rooms_of_different_types(h, 1)
    await book(h, 1, room_a, date.today() + timedelta(days=8))

    async def applied() -> bool:
        return h.bridge.applied >= 2

    source = h.bridge.source
    # Lose every acknowledgement, as a crash right after the commit would.
    source.acknowledge = _forget  # type: ignore[method-assign]
    await h.step_until(applied)
    await h.bridge._close()
    assert h.bridge.applied == 2
    slot = await h.sql(
        "SELECT confirmed_flush_lsn - '0/0'::pg_lsn, (SELECT position::numeric FROM"
        " pms_bridge.checkpoint) FROM pg_replication_slots WHERE slot_name = %s",
        (settings.slot_name,),
    )
    assert slot[0][0] < slot[0][1]  # the server will send the applied transaction again

    again = Harness(settings)
    again.cache = h.cache
    await drain(again.bridge, again.settings)
    assert again.bridge.applied == 0
    assert again.recorder.changes == []
    async with await psycopg.AsyncConnection.connect(h.url) as conn:
        cur = await conn.execute("SELECT changes_applied FROM pms_bridge.checkpoint")
        assert await cur.fetchall() == [(2,)]
    assert await rebuild_check(h)


async def _forget(batch: Any) -> None:
    return None


async def rebuild_check(h: Harness) -> bool:
    fresh = MemoryCache()
    async with await psycopg.AsyncConnection.connect(h.url) as conn:
        await rebuild_availability(conn, fresh, horizon(h.settings))
    return await cached(fresh) == await cached(h.cache)


async def test_a_deleted_room_type_and_a_cancelled_booking_carry_their_old_rows(
    harness: Harness,
) -> None:
    h = harness
    rows = await h.sql(
        "INSERT INTO room_types (hotel_id, name) VALUES (1, 'Logical suite') RETURNING id"
    )
    type_id = rows[0][0]
    await h.sql("DELETE FROM room_types WHERE hotel_id = 1 AND id = %s", (type_id,))
    room_a, _type_a, _room_b, _type_b = await two_rooms_of_different_types(h, 1)
    detail = await book(h, 1, room_a, date.today() + timedelta(days=9))
    reservation = (
        await h.sql("SELECT reservation_id FROM reservation_details WHERE id = %s", (detail,))
    )[0][0]
    await h.sql("UPDATE reservations SET status = 'cancelled' WHERE id = %s", (reservation,))
    await h.sql("UPDATE reservations SET comment = 'late note' WHERE id = %s", (reservation,))

    async def all_seen() -> bool:
        return sum(c.table == "reservations" and c.op == "update" for c in h.recorder.changes) == 2

    await h.step_until(all_seen)
    deleted = next(c for c in h.recorder.changes if c.table == "room_types" and c.op == "delete")
    assert deleted.old is not None and deleted.old["name"] == "Logical suite"
    cancel, edit = [c for c in h.recorder.changes if c.table == "reservations" and c.op == "update"]
    assert cancel.old is not None and cancel.old["status"] == "confirmed"
    assert edit.old is not None and edit.old["status"] == "cancelled"
    assert h.bridge.parked == 0
    assert await h.in_sync()
