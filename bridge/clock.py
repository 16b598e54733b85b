"""Each hotel's today: the date in the hotel's own time zone, which stays are judged by."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bridge.config import Settings, hotel_zones

RECHECK = timedelta(seconds=1)


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
        self._todays: tuple[tuple[date, date], datetime] | None = None

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
        known = self._todays
        if known is not None and now < known[1]:
            return known[0]
        dates, midnights = [], [now + RECHECK]
        for zone in self._zones:
            local = now.astimezone(zone)
            dates.append(local.date())
            midnights.append(
                datetime.combine(local.date() + timedelta(days=1), time.min, local.tzinfo)
            )
        # The same tuple is given until the next midnight in any zone: every fast answer asks
        # (through the horizon's `covers`). At most RECHECK, though, for the machine's zone:
        # astimezone() gives it as a fixed offset, which a daylight-saving change before
        # midnight would make wrong.
        todays = (min(dates), max(dates))
        self._todays = (todays, min(midnights))
        return todays
