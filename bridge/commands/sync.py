"""`pms-bridge sync failed|retry|resend`: failed deliveries to the booking engine, requeueing
them, and telling a hotel's bookings again."""

from __future__ import annotations

import argparse
import uuid
from datetime import date
from typing import Any

from bridge.config import ConfigError, Settings, require_database


def _booking(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a reservation id (UUID)") from None


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


async def cmd_sync_failed(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.db import connect
    from bridge.delivery.retry import failed
    from bridge.migrate import require_migrated

    async with await connect(require_database(settings), autocommit=True) as conn:
        await require_migrated(conn)
        events = await failed(conn, args.hotel, args.limit)
    print(f"{'EVENT':<36}  {'HOTEL':>5}  {'BOOKING':<36}  {'TRIES':>5}  {'HOLDS':>5}  ERROR")
    for e in events:
        print(
            f"{e.event_id!s:<36}  {e.hotel_id:>5}  {e.booking_id!s:<36}  {e.attempts:>5}  "
            f"{e.waiting:>5}  {e.last_error or '-'}"
        )
    return 0


async def cmd_sync_retry(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.commands.audited import audit
    from bridge.db import connect
    from bridge.delivery.retry import requeue

    if not args.failed and args.booking is None:
        raise ConfigError("sync retry: say what to requeue: --failed, --booking ID, or both")
    async with await connect(require_database(settings)) as conn, conn.transaction():
        queued = await requeue(conn, args.booking, args.hotel)
        await audit(
            conn,
            "deliveries.retry",
            "booking" if args.booking else "delivery",
            str(args.booking) if args.booking else None,
            args.hotel,
            {"booking_id": str(args.booking) if args.booking else None},
            {"queued": queued},
        )
    target = f"booking {args.booking}" if args.booking else "failed deliveries"
    where = f" of hotel {args.hotel}" if args.hotel is not None else ""
    print(f"sync retry: requeued {queued} event(s) for {target}{where}")
    return 0


async def cmd_sync_resend(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.commands.audited import audit
    from bridge.db import connect
    from bridge.migrate import require_migrated
    from bridge.reconcile import NotSyncing, resend

    async with await connect(require_database(settings), autocommit=True) as conn:
        await require_migrated(conn)
        try:
            resent = await resend(conn, args.hotel, args.since)
        except NotSyncing as exc:
            raise ConfigError(f"sync resend: {exc}") from None
        await audit(
            conn,
            "deliveries.resend",
            "hotel",
            str(args.hotel),
            args.hotel,
            {"since": args.since.isoformat() if args.since else None},
            {"queued": resent.queued, "held_by_failed": resent.held_by_failed},
        )
    window = f" with stays ending on or after {args.since}" if args.since else ""
    print(f"sync resend: queued {resent.queued} event(s) for hotel {args.hotel}{window}")
    if resent.held_by_failed:
        print(
            f"sync resend: {resent.held_by_failed} reservation(s) wait behind a failed event: "
            f"`pms-bridge sync retry --failed --hotel {args.hotel}` sends them"
        )
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
    retry.add_argument("--hotel", type=int, default=None, help="only this hotel's")
    retry.set_defaults(handler=cmd_sync_retry)
    listing = actions.add_parser(
        "failed",
        help="the failed deliveries, oldest first",
        description="List the events whose delivery failed for good: event, hotel, "
        "reservation, attempts, how many later events of the reservation it holds (they wait "
        "until it is requeued with `sync retry`), and the last error.",
    )
    listing.add_argument("--hotel", type=int, default=None, help="one hotel's")
    listing.add_argument("--limit", type=int, default=1000)
    listing.set_defaults(handler=cmd_sync_failed)
    resend = actions.add_parser(
        "resend",
        help="send every booking of a hotel (or a window) again",
        description="Queue an `updated` event with its current state for every reservation "
        "of the hotel (with --since, those whose check_out is on or after DATE), through the "
        "normal delivery path, in order behind each reservation's open events: for a booking "
        "engine that lost data.",
    )
    resend.add_argument("--hotel", type=int, required=True)
    resend.add_argument("--since", type=_date, default=None, help="YYYY-MM-DD")
    resend.set_defaults(handler=cmd_sync_resend)
