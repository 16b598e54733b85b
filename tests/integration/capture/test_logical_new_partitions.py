"""A partition the PMS creates while logical capture runs gets REPLICA IDENTITY FULL then."""

from __future__ import annotations

from datetime import date, timedelta

from bridge.capture.logical import LogicalSource
from bridge.capture.slot import FULL_IDENTITY_TABLES
from metrics.definitions import REGISTRY
from tests.support.logical import Harness, book, two_rooms_of_different_types
from tests.support.pipeline import add_pms_hotel


async def identities(h: Harness, hotel_id: int) -> set[str]:
    """The replica identities of the hotel's partitions of the tables that need FULL."""
    rows = await h.sql(
        "SELECT c.relreplident::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = ANY(%s)"
        " AND pg_get_expr(c.relpartbound, c.oid) LIKE %s",
        (list(FULL_IDENTITY_TABLES), f"%({hotel_id})"),
    )
    return {r[0] for r in rows}


def gaps(table: str) -> float:
    value = REGISTRY.get_sample_value("pms_bridge_logical_identity_gaps_total", {"table": table})
    return value or 0.0


async def test_a_change_without_its_old_row_sets_full_on_its_partition(
    harness: Harness,
) -> None:
    h = harness
    source = h.bridge.source
    assert isinstance(source, LogicalSource)
    hotel_id = await add_pms_hotel(h.url, "New Hotel")
    assert await identities(h, hotel_id) == {"d"}
    await h.step_until(h.in_sync)
    move = "UPDATE rooms SET room_type_id = (SELECT max(id) FROM room_types WHERE hotel_id = %s)"
    move += " WHERE id = (SELECT min(id) FROM rooms WHERE hotel_id = %s)"
    before = gaps("rooms")
    await h.sql(move, (hotel_id, hotel_id))
    await h.step_until(lambda: _gap_seen(before))
    await source.lag()  # the bridge's periodic call: the gap made it look at once
    assert await identities(h, hotel_id) == {"f"}
    await h.sql(move.replace("max(id)", "min(id)"), (hotel_id, hotel_id))
    await h.step_until(h.in_sync)
    assert gaps("rooms") == before + 1  # the second move arrived with its old row


async def _gap_seen(before: float) -> bool:
    return gaps("rooms") > before


async def test_a_new_partition_is_set_at_the_periodic_check(harness: Harness) -> None:
    h = harness
    source = h.bridge.source
    assert isinstance(source, LogicalSource)
    hotel_id = await add_pms_hotel(h.url, "New Hotel")
    source.identity_check_interval = 0.0  # look at every lag() call (normally every 30 s)
    await source.lag()
    assert await identities(h, hotel_id) == {"f"}


async def test_a_night_moved_or_deleted_before_full_is_set_leaves_no_cache_wrong(
    harness: Harness,
) -> None:
    h = harness
    source = h.bridge.source
    assert isinstance(source, LogicalSource)
    hotel_id = await add_pms_hotel(h.url, "New Hotel")
    night = date.today() + timedelta(days=5)
    room_a, _, room_b, _ = await two_rooms_of_different_types(h, hotel_id)
    moved = await book(h, hotel_id, room_a, night)
    deleted = await book(h, hotel_id, room_b, night + timedelta(days=1))
    await h.step_until(h.in_sync)
    assert await identities(h, hotel_id) == {"d"}
    # Neither change carries its old row: the room type moved away from, and the night
    # deleted, are known only from a recompute.
    await h.sql(
        "WITH m AS (UPDATE reservation_details SET room_id = %s WHERE hotel_id = %s AND id = %s)"
        " DELETE FROM reservation_details WHERE hotel_id = %s AND id = %s",
        (room_b, hotel_id, moved, hotel_id, deleted),
    )
    before = gaps("reservation_details")

    async def both_seen() -> bool:
        # The cache can match the PMS before the two changes are read (a recompute made for
        # another change already counts them): step until the gaps are seen as well.
        return gaps("reservation_details") >= before + 2 and await h.in_sync()

    await h.step_until(both_seen)
    assert h.bridge.parked == 0
