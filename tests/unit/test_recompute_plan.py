"""Which recompute query a batch gets: per key, per dirty hotel-night, or over its span."""

from __future__ import annotations

from datetime import date, timedelta

from bridge.horizon import Horizon
from bridge.projectors.availability import AvailabilityDirty
from bridge.sinks.availability import plan, span

HORIZON = Horizon()
TODAY = date.today()


def choose(dirty: AvailabilityDirty, room_types: set[tuple[int, int]] | None = None) -> str:
    types = dirty.room_types if room_types is None else room_types
    return plan(dirty, types, HORIZON.nights(), span(dirty, types, HORIZON))


def test_a_few_nights_are_recomputed_per_key() -> None:
    dirty = AvailabilityDirty(nights={(1, 7, TODAY + timedelta(days=d)) for d in range(30)})
    assert choose(dirty) == "availability_recompute"


def test_a_backlog_over_every_night_of_its_hotels_scans_the_span() -> None:
    nights = {(h, r, TODAY + timedelta(days=d)) for h in (1, 2) for r in (1, 2) for d in range(400)}
    dirty = AvailabilityDirty(nights=nights)
    assert span(dirty, set(), HORIZON).hotels == [1, 2]
    assert choose(dirty) == "availability_recompute_range"


def test_nights_scattered_thinly_over_many_hotels_are_probed() -> None:
    # 2,000 nights: one every 10 days in each of 50 hotels, a tenth of the span's hotel-nights.
    nights = {(h, 1, TODAY + timedelta(days=10 * d)) for h in range(50) for d in range(36)}
    dirty = AvailabilityDirty(nights=nights)
    assert choose(dirty) == "availability_recompute_bulk"


def test_everything_scans_the_whole_horizon() -> None:
    types = {(1, t) for t in range(5)}
    dirty = AvailabilityDirty(everything=True)
    where = span(dirty, types, HORIZON)
    assert (where.first, where.last) == HORIZON.bounds()
    assert choose(dirty, types) == "availability_recompute_range"
