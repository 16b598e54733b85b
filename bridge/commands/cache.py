"""`pms-bridge cache update hotels|room-types [--hotel ID]`, `refresh-availability`, `status`."""

from __future__ import annotations

import argparse
from datetime import date
from typing import Any

import msgspec

from bridge.config import ConfigError, Settings, require_database
from bridge.errors import Refused


def _shared_cache(settings: Settings) -> Any:
    from bridge.cache import open_shared_cache

    return open_shared_cache(
        settings, "ask that process instead (POST /api/booking-engine/cache/...)"
    )


async def _retire(settings: Settings, hotel_id: int | None) -> None:
    """Memoized answers read from what was rewritten, in every API process: the hotel's, or
    every hotel's after an update of all."""
    from bridge import shared_version

    await shared_version.publish(
        settings.redis_url,
        settings.redis_prefix,
        [] if hotel_id is None else [hotel_id],
        every=hotel_id is None,
    )


def _report(result: Any) -> int:
    scope = f"hotel {result.hotel_id}" if result.hotel_id is not None else "all hotels"
    line = (
        f"cache {result.cache_type}: {result.status} for {scope} (trigger {result.trigger_id}; "
        f"{result.entries_written} written, {result.entries_removed} removed)"
    )
    print(line if result.error is None else f"{line}: {result.error}")
    return 0 if result.status == "completed" else 1


async def cmd_cache_update(args: argparse.Namespace, settings: Settings) -> int:
    from bridge import cacheops
    from bridge.db import connect

    update = cacheops.update_hotels if args.what == "hotels" else cacheops.update_room_types
    cache = _shared_cache(settings)
    try:
        async with await connect(require_database(settings), autocommit=True) as conn:
            try:
                result = await update(conn, cache, hotel_id=args.hotel, triggered_by="cli")
            except Refused as exc:
                raise ConfigError(f"--hotel {args.hotel}: {exc.detail}") from None
            await _retire(settings, args.hotel)
    finally:
        await cache.close()
    return _report(result)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


async def cmd_cache_refresh(args: argparse.Namespace, settings: Settings) -> int:
    from bridge import cacheops
    from bridge.db import connect
    from bridge.service import horizon

    cache = _shared_cache(settings)
    try:
        async with await connect(require_database(settings), autocommit=True) as conn:
            try:
                result = await cacheops.refresh_availability(
                    conn,
                    cache,
                    horizon(settings),
                    hotel_id=args.hotel,
                    room_type_id=args.room_type,
                    start_date=args.start,
                    end_date=args.end,
                    triggered_by="cli",
                )
            except Refused as exc:
                raise ConfigError(exc.detail) from None
            await _retire(settings, args.hotel)
    finally:
        await cache.close()
    return _report(result)


async def cmd_cache_status(args: argparse.Namespace, settings: Settings) -> int:
    from bridge import cacheops
    from bridge.db import connect

    async with await connect(require_database(settings), autocommit=True) as conn:
        status = await cacheops.cache_status(conn, args.hotel)
    print(msgspec.json.format(msgspec.json.encode(status), indent=2).decode())
    return 0


def register(sub: Any) -> None:
    cache = sub.add_parser(
        "cache",
        help="hotel, room-type and availability caches",
        description="Update, refresh and inspect the caches in Redis (REDIS_URL) that "
        "`pms-bridge run` reads.",
    )
    actions = cache.add_subparsers(dest="cache_action", required=True, metavar="ACTION")
    update = actions.add_parser(
        "update",
        help="reload the hotel or room-type cache (manual policy)",
        description="Reload the hotel or room-type cache from the PMS tables: under "
        "BRIDGE_CATALOG_POLICY=manual these change only when asked.",
    )
    update.add_argument("what", choices=["hotels", "room-types"])
    update.add_argument("--hotel", type=int, default=None, help="one hotel (default: all)")
    update.set_defaults(handler=cmd_cache_update)
    refresh = actions.add_parser(
        "refresh-availability",
        help="recompute availability for nights start <= night < end",
        description="Recompute one hotel's availability (one room type, or all) for the "
        "nights from --start up to --end, excluded.",
    )
    refresh.add_argument("--hotel", type=int, required=True)
    refresh.add_argument("--room-type", type=int, default=None)
    refresh.add_argument("--start", type=_date, required=True, help="YYYY-MM-DD")
    refresh.add_argument("--end", type=_date, required=True, help="YYYY-MM-DD (excluded)")
    refresh.set_defaults(handler=cmd_cache_refresh)
    status = actions.add_parser(
        "status",
        help="the cache status document as JSON",
        description="Print the cache status document (what each cache holds, when it was last "
        "updated, changes pending) as JSON.",
    )
    status.add_argument("--hotel", type=int, default=None)
    status.set_defaults(handler=cmd_cache_status)
