"""Where the booking engine's routes are served: the prefix the routes share and the
middleware audits."""

from __future__ import annotations

PREFIX = "/api/booking-engine"
