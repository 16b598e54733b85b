"""A hotel's today is its own date: the same instant is two dates in two zones."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from bridge.clock import HotelClock
from bridge.config import Settings
from bridge.horizon import Horizon


def test_each_hotel_has_the_date_of_its_own_zone() -> None:
    instant = datetime(2027, 3, 1, 20, 30, tzinfo=UTC)
    clock = HotelClock(
        ZoneInfo("Asia/Tokyo"), {2: ZoneInfo("America/Los_Angeles")}, now=lambda: instant
    )
    assert clock.today(1) == date(2027, 3, 2)  # 05:30 next morning in Tokyo
    assert clock.today(2) == date(2027, 3, 1)  # 12:30 in Los Angeles


def test_without_a_zone_the_machines_date_is_used() -> None:
    before = date.today()
    today = HotelClock.of(Settings()).today(1)
    assert today in {before, date.today()}  # the same, unless midnight passed meanwhile


def test_the_horizon_spans_the_earliest_and_the_latest_hotels_today() -> None:
    instant = datetime(2027, 3, 1, 11, 0, tzinfo=UTC)
    clock = HotelClock(ZoneInfo("Etc/GMT+12"), {1: ZoneInfo("Etc/GMT-14")}, now=lambda: instant)
    assert clock.todays() == (date(2027, 2, 28), date(2027, 3, 2))  # 23:00 and 01:00
    horizon = Horizon(31, 366, clock)
    assert horizon.bounds() == (date(2027, 1, 28), date(2028, 3, 2))
    assert horizon.bounds(date(2027, 3, 1)) == (date(2027, 1, 29), date(2028, 3, 1))


def test_the_todays_change_at_the_first_midnight_in_any_zone_not_later() -> None:
    instants = [datetime(2027, 3, 1, 14, 59, 59, 500_000, tzinfo=UTC)]  # 23:59:59.5 in Tokyo
    clock = HotelClock(ZoneInfo("UTC"), {1: ZoneInfo("Asia/Tokyo")}, now=lambda: instants[-1])
    assert clock.todays() == (date(2027, 3, 1), date(2027, 3, 1))
    instants.append(datetime(2027, 3, 1, 15, 0, 0, 100_000, tzinfo=UTC))  # 00:00:00.1 there
    assert clock.todays() == (date(2027, 3, 1), date(2027, 3, 2))
    assert clock.today(1) == date(2027, 3, 2)
    instants.append(datetime(2027, 3, 2, 0, 0, 0, 100_000, tzinfo=UTC))  # and now in UTC
    assert clock.todays() == (date(2027, 3, 2), date(2027, 3, 2))
