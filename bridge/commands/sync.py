"""`pms-bridge sync retry [--failed] [--booking ID]`: requeue deliveries to the booking engine."""

from __future__ import annotations

import argparse
import uuid
from typing import Any

from bridge.config import ConfigError, Settings, require_database


def _booking(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a reservation id (UUID)") from None


async def cmd_sync_retry(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.db import connect
    from bridge.delivery.retry import requeue

    if not args.failed and args.booking is None:
        raise ConfigError("sync retry: say what to requeue: --failed, --booking ID, or both")
    async with await connect(require_database(settings)) as conn, conn.transaction():
        queued = await requeue(conn, args.booking)
    target = f"booking {args.booking}" if args.booking else "failed deliveries"
    print(f"sync retry: requeued {queued} event(s) for {target}")
    return 0


def register(sub: Any) -> None:
    sync = sub.add_parser(
        "sync",
        help="delivery of booking changes to the booking engine",
        description="Delivery of booking changes to the booking engine's webhook.",
    )
    actions = sync.add_subparsers(dest="sync_action", required=True, metavar="ACTION")
    retry = actions.add_parser(
        "retry",
        help="requeue failed deliveries (all, or one booking)",
        description="Requeue failed webhook deliveries: every failed one (--failed) or one "
        "booking's (--booking ID).",
    )
    retry.add_argument("--failed", action="store_true", help="every failed delivery")
    retry.add_argument("--booking", type=_booking, default=None, help="one reservation id")
    retry.set_defaults(handler=cmd_sync_retry)
