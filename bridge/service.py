"""Wires settings into a running bridge: cache, capture source and stages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import psycopg

from bridge.cache import Cache, open_cache
from bridge.capture.base import Source
from bridge.capture.logical import LogicalSource
from bridge.capture.trigger import TriggerSource
from bridge.config import Settings, require_database
from bridge.delivery.events import DeliveryStage
from bridge.horizon import Horizon
from bridge.live_status import Moves
from bridge.pipeline import AvailabilityStage, Bridge, Stage, SyncStatusStage
from bridge.sinks.catalog import CatalogStage
from bridge.sinks.prices import PricesStage
from bridge.snapshot import rebuild_availability


def horizon(settings: Settings) -> Horizon:
    return Horizon.of(settings)


def snapshot_hook(
    settings: Settings, cache: Cache
) -> Callable[[psycopg.AsyncConnection[Any]], Awaitable[None]]:
    """Rebuilds the caches on a connection the source opened at its slot's exported snapshot.
    It runs as the source opens, so every hotel's memo version moves with the connection."""

    async def rebuild(conn: psycopg.AsyncConnection[Any]) -> None:
        await rebuild_availability(conn, cache, horizon(settings))

    return rebuild


def build_source(settings: Settings, cache: Cache | None = None) -> Source:
    url = require_database(settings)
    if settings.capture == "logical":
        # A new slot's snapshot is where its stream starts: the caches are built from it.
        hook = snapshot_hook(settings, cache) if cache is not None else None
        source: Source = LogicalSource(url, settings, on_snapshot=hook)
        return source
    return TriggerSource(
        url,
        settings.watched_tables,
        batch_size=settings.batch_size,
        poll_interval=settings.poll_interval,
    )


def build_stages(settings: Settings, cache: Cache, moves: Moves | None = None) -> list[Stage]:
    """The bridge's stages; their sinks tell `moves` which hotels' cached answers they wrote."""
    return [
        AvailabilityStage(cache, horizon(settings), moves),
        SyncStatusStage(),
        CatalogStage(cache, settings.catalog_policy, moves),
        PricesStage(cache, horizon(settings), moves),
        DeliveryStage(),
    ]


def build_bridge(settings: Settings, cache: Cache | None = None) -> tuple[Bridge, Cache]:
    cache = cache or open_cache(settings.redis_url, settings.redis_prefix)
    moves = Moves()
    bridge = Bridge(
        require_database(settings),
        build_source(settings, cache),
        build_stages(settings, cache, moves),
        consumer=settings.consumer_name,
        watched=settings.watched_tables,
        contract_interval=settings.contract_interval,
        heartbeat_interval=settings.heartbeat_seconds,
        moves=moves,
    )
    return bridge, cache
