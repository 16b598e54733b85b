"""What the API's handlers share: settings, cache, PostgreSQL pools and the bridge's status."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from litestar.connection import ASGIConnection
from psycopg_pool import AsyncConnectionPool

from api.audit import AuditWriter
from api.auth.keys import KeyStore
from api.encoding import Encoded
from api.memo import ResponseMemo
from api.ratelimit import FailedAuth, Limiter
from bridge.cache.base import Cache
from bridge.clock import HotelClock
from bridge.config import Settings
from bridge.live_status import BridgeStatus, Version, version_of
from bridge.shared_version import SharedVersion
from bridge.sinks.availability import Horizon

# Where the app keeps its context in Litestar's app state, for what takes no dependencies
# (the admission hook, the busiest routes).
CONTEXT = "ctx"


@dataclass
class ApiContext:
    settings: Settings
    cache: Cache
    pool: AsyncConnectionPool[Any] | None = None
    # Connections for booking reads and writes: always the generic plan (see runner).
    booking_pool: AsyncConnectionPool[Any] | None = None
    # The bridge, when it runs in this process.
    status: BridgeStatus | None = None
    # An API-only replica's view of the bridge's version, published through Redis.
    shared: SharedVersion | None = None
    # Set by create_app: key lookup, rate limiter, audit writer and the JWT signing secret.
    keys: KeyStore | None = None
    limiter: Limiter | None = None
    failed_auth: FailedAuth | None = None
    audit: AuditWriter | None = None
    jwt_secret: str = ""
    availability_memo: ResponseMemo[Encoded] = field(default_factory=ResponseMemo)
    catalog_memo: ResponseMemo[bytes] = field(default_factory=lambda: ResponseMemo("hotel"))
    clock: HotelClock = field(init=False)
    horizon: Horizon = field(init=False)

    def __post_init__(self) -> None:
        self.clock = HotelClock.of(self.settings)
        self.horizon = Horizon(
            self.settings.horizon_days_back, self.settings.horizon_days_ahead, self.clock
        )

    def memo_version(self) -> tuple[int, Version] | None:
        """What memoized answers are kept under: the bridge's version, from this process's
        bridge or through Redis (with the subscription's epoch); None memoizes nothing."""
        if self.status is not None:
            return 0, version_of(self.status)
        return None if self.shared is None else self.shared.current()


def context_of(connection: ASGIConnection[Any, Any, Any, Any]) -> ApiContext:
    """The context of the app serving the call."""
    ctx: ApiContext = connection.app.state[CONTEXT]
    return ctx
