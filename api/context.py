"""What the API's handlers share: settings, cache, PostgreSQL pools and the bridge's status."""

from __future__ import annotations

from collections.abc import Hashable
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
from bridge.errors import Unavailable
from bridge.horizon import Horizon
from bridge.live_status import BridgeStatus
from bridge.shared_version import SharedVersions, publish

# Where the app keeps its context in Litestar's app state, for what takes no dependencies
# (the admission hook, the busiest routes).
CONTEXT = "ctx"


@dataclass
class ApiContext:
    settings: Settings
    cache: Cache
    pool: AsyncConnectionPool[Any] | None = None
    # Connections for booking reads and writes: always the generic plan (see api.server).
    booking_pool: AsyncConnectionPool[Any] | None = None
    # The bridge, when it runs in this process.
    status: BridgeStatus | None = None
    # The memo versions followed through Redis, when there is one.
    shared: SharedVersions | None = None
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

    def memo_version(self, hotel_id: int) -> Hashable | None:
        """What the hotel's memoized answers are kept under; None memoizes nothing. Through
        Redis, every writer's moves arrive; this process's bridge also moves its own at once,
        so answers never outlive a batch it applied while its message is on the way."""
        status = self.status
        if self.shared is not None:
            version = self.shared.current(hotel_id)
            if version is None or status is None:
                return version
            return version, status.memo_version(hotel_id)
        return None if status is None else status.memo_version(hotel_id)

    def source_live(self) -> bool:
        """Whether capture is connected: the bridge's state, in its process or as it last
        published it; taken as connected while no bridge has said."""
        if self.status is not None:
            return self.status.connected
        live = None if self.shared is None else self.shared.live()
        return True if live is None else live

    async def retire(self, hotel_ids: list[int], *, every: bool = False) -> None:
        """After a write to these hotels' cached answers outside the bridge's batches: this
        process's memos are emptied (so the caller reads its write), and every other API
        process is told through Redis."""
        self.availability_memo.clear()
        self.catalog_memo.clear()
        await publish(self.settings.redis_url, self.settings.redis_prefix, hotel_ids, every)


def pool_of(ctx: ApiContext) -> AsyncConnectionPool[Any]:
    if ctx.pool is None:
        raise Unavailable("unavailable", "the PMS database is not configured")
    return ctx.pool


def booking_pool_of(ctx: ApiContext) -> AsyncConnectionPool[Any]:
    return ctx.booking_pool or pool_of(ctx)


def context_of(connection: ASGIConnection[Any, Any, Any, Any]) -> ApiContext:
    """The context of the app serving the call."""
    ctx: ApiContext = connection.app.state[CONTEXT]
    return ctx
