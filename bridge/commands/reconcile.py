"""`pms-bridge reconcile [--hotel ID] [--since DATE] [--dry-run]`: repair what capture lost."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime, time
from typing import Any

from bridge.config import Settings, require_database


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


async def cmd_reconcile(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.cache import RedisCache
    from bridge.cache.base import Cache
    from bridge.db import connect
    from bridge.migrate import require_migrated
    from bridge.reconcile import reconcile

    async with await connect(require_database(settings)) as conn:
        await require_migrated(conn)
    # Without REDIS_URL the availability cache lives inside `pms-bridge run`: only bookings
    # can be reconciled from here (the running bridge's schedule covers its cache).
    cache: Cache | None = (
        RedisCache(settings.redis_url, settings.redis_prefix) if settings.redis_url else None
    )
    since = datetime.combine(args.since, time(), UTC) if args.since else None
    try:
        report = await reconcile(settings, cache, since, args.hotel, args.dry_run)
    finally:
        if cache is not None:
            await cache.close()
    for line in report.lines():
        print(f"reconcile: {line}")
    return 0


def register(sub: Any) -> None:
    reconcile = sub.add_parser(
        "reconcile",
        help="compare the PMS with what the booking engine was told and the cache holds",
        description="Find reservations the booking engine was not told of (or told an older "
        "state of) and availability cache entries that differ from the PMS, and repair them "
        "through the normal delivery and cache paths. Prints one line per kind and a total.",
    )
    reconcile.add_argument("--hotel", type=int, default=None, help="one hotel id")
    reconcile.add_argument(
        "--since",
        type=_date,
        default=None,
        help="only reservations whose check_out is on or after DATE (YYYY-MM-DD)",
    )
    reconcile.add_argument("--dry-run", action="store_true", help="only report; change nothing")
    reconcile.set_defaults(handler=cmd_reconcile)
