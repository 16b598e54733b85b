"""A hotel's today is its own date: the same instant is two dates in two zones."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from api.clock import HotelClock
from bridge.config import Settings


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
