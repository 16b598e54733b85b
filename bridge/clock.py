"""Each hotel's today: the date in the hotel's own time zone, which stays are judged by."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from bridge.config import Settings, hotel_zones


def _utc_now() -> datetime:
    return datetime.now(UTC)


class HotelClock:
    def __init__(
        self,
        default: ZoneInfo | None,
        per_hotel: dict[int, ZoneInfo],
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._default = default
        self._per_hotel = per_hotel
        self._now = now
        # Each zone once: a chain lists many hotels in a few zones.
        self._zones = list(dict.fromkeys((default, *per_hotel.values())))

    @classmethod
    def of(cls, settings: Settings) -> HotelClock:
        default, per_hotel = hotel_zones(settings)
        return cls(default, per_hotel)

    def today(self, hotel_id: int) -> date:
        zone = self._per_hotel.get(hotel_id, self._default)
        # No zone given: the machine's own, as the server's clock and the PMS's staff see it.
        return self._now().astimezone(zone).date()

    def todays(self) -> tuple[date, date]:
        """The earliest and the latest of the hotels' todays (hotels not named have the
        default zone), so one range of nights can cover every hotel's."""
        now = self._now()
        dates = [now.astimezone(zone).date() for zone in self._zones]
        return min(dates), max(dates)
