"""The nights the caches keep, around every hotel's today: what the sinks write, the cache
operations rebuild and the API answers for."""

from __future__ import annotations

from datetime import date, timedelta

from bridge.clock import HotelClock
from bridge.config import Settings

ONE_NIGHT = timedelta(days=1)


class Horizon:
    """The nights the cache keeps: a month back (for late changes) to a year ahead, of every
    hotel's today (the machine's date when no clock is given)."""

    def __init__(
        self, days_back: int = 31, days_ahead: int = 366, clock: HotelClock | None = None
    ) -> None:
        self.days_back = days_back
        self.days_ahead = days_ahead
        self.clock = clock
        self._back, self._ahead = timedelta(days=days_back), timedelta(days=days_ahead)
        # The last todays seen and their bounds: the clock gives the same tuple all day.
        self._known: tuple[tuple[date, date], tuple[date, date]] | None = None

    @classmethod
    def of(cls, settings: Settings) -> Horizon:
        return cls(settings.horizon_days_back, settings.horizon_days_ahead, HotelClock.of(settings))

    def todays(self, today: date | None = None) -> tuple[date, date]:
        """The earliest and latest hotel's today; both `today` when one is given."""
        if today is not None:
            return today, today
        if self.clock is None:
            return date.today(), date.today()
        return self.clock.todays()

    def bounds(self, today: date | None = None) -> tuple[date, date]:
        # A hotel a day ahead of the server sells a night the server's year does not reach.
        todays = self.todays(today)
        known = self._known
        if known is not None and known[0] is todays:
            return known[1]
        bounds = (todays[0] - self._back, todays[1] + self._ahead)
        self._known = (todays, bounds)
        return bounds

    def covers(self, start: date, end: date) -> bool:
        """Whether every night of [start, end) is kept."""
        first, last = self.bounds()
        return first <= start and end - ONE_NIGHT <= last

    def nights(self) -> int:
        lo, hi = self.bounds()
        return (hi - lo).days + 1
