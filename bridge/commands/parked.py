"""`pms-bridge parked list|show|retry|drop`: the changes the bridge parked instead of applying."""

from __future__ import annotations

import argparse
from typing import Any

import msgspec

from bridge.config import ConfigError, Settings, require_database


def _one_line(text: str, width: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


async def cmd_parked_list(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.db import connect
    from bridge.migrate import require_migrated
    from bridge.parked import list_parked

    async with await connect(require_database(settings), autocommit=True) as conn:
        await require_migrated(conn)
        parked = await list_parked(conn, args.hotel, args.limit)
    print(f"{'ID':>6}  {'PARKED':<16}  {'HOTEL':>5}  {'TABLE':<20}  {'OP':<8}  ERROR")
    for p in parked:
        hotel = "-" if p.hotel_id is None else str(p.hotel_id)
        print(
            f"{p.id:>6}  {p.parked_at:%Y-%m-%d %H:%M}  {hotel:>5}  {p.table_name or '-':<20}  "
            f"{p.op or '-':<8}  {_one_line(p.error, 80)}"
        )
    return 0


async def cmd_parked_show(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.db import connect
    from bridge.migrate import require_migrated
    from bridge.parked import ParkedNotFound, show

    async with await connect(require_database(settings), autocommit=True) as conn:
        await require_migrated(conn)
        try:
            parked = await show(conn, args.id, None)
        except ParkedNotFound as exc:
            raise ConfigError(f"{exc} (`pms-bridge parked list` shows them)") from None
    print(msgspec.json.format(msgspec.json.encode(parked), indent=2).decode())
    return 0


async def _ids(conn: Any, args: argparse.Namespace) -> list[int]:
    from bridge.parked import list_parked

    if args.all == bool(args.ids):
        raise ConfigError(f"parked {args.parked_action}: name the changes (IDs) or give --all")
    if args.ids:
        return list(args.ids)
    return [p.id for p in await list_parked(conn, args.hotel, limit=1_000_000)]


async def cmd_parked_retry(args: argparse.Namespace, settings: Settings) -> int:
    from bridge import shared_version
    from bridge.cache import open_shared_cache
    from bridge.capture.install import primary_keys
    from bridge.commands.audited import audit
    from bridge.db import connect
    from bridge.live_status import Moves
    from bridge.migrate import require_migrated
    from bridge.parked import ParkedNotFound, retry
    from bridge.service import build_stages

    cache = open_shared_cache(
        settings,
        "ask that process instead (POST /api/booking-engine/admin/parked-changes/ID/retry)",
    )
    still = 0
    moves = Moves()
    try:
        stages = build_stages(settings, cache, moves)
        async with await connect(require_database(settings), autocommit=True) as conn:
            await require_migrated(conn)
            keys = await primary_keys(conn, settings.watched_tables)
            for parked_id in await _ids(conn, args):
                try:
                    result = await retry(conn, stages, keys, parked_id, None)
                except ParkedNotFound as exc:
                    print(f"parked retry: {exc}")
                    still += 1
                    continue
                await audit(
                    conn,
                    "parked.retry",
                    "parked_change",
                    str(parked_id),
                    None,
                    {},
                    {"applied": result.applied, "error": result.error},
                )
                if result.applied:
                    print(f"parked retry: {parked_id} applied")
                else:
                    still += 1
                    print(f"parked retry: {parked_id} still parked: {result.error}")
    finally:
        # The hotels whose cached answers the applied changes rewrote, in every API process.
        moved = moves.written()
        await shared_version.publish(
            settings.redis_url, settings.redis_prefix, moved.hotels, moved.every
        )
        await cache.close()
    return 1 if still else 0


async def cmd_parked_drop(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.commands.audited import audit
    from bridge.db import connect
    from bridge.migrate import require_migrated
    from bridge.parked import ParkedNotFound, drop

    missing = 0
    async with await connect(require_database(settings), autocommit=True) as conn:
        await require_migrated(conn)
        for parked_id in await _ids(conn, args):
            try:
                dropped = await drop(conn, parked_id, None)
            except ParkedNotFound as exc:
                print(f"parked drop: {exc}")
                missing += 1
                continue
            await audit(
                conn,
                "parked.drop",
                "parked_change",
                str(parked_id),
                dropped.hotel_id,
                {},
                {"table": dropped.table_name, "op": dropped.op, "error": dropped.error},
            )
            print(f"parked drop: {parked_id} dropped ({dropped.table_name} {dropped.op})")
    return 1 if missing else 0


def register(sub: Any) -> None:
    parked = sub.add_parser(
        "parked",
        help="changes parked instead of applied: list, show, retry, drop",
        description="Changes the bridge could not apply (malformed, or failing on their data) "
        "are parked in pms_bridge.parked_changes and the stream goes on. Once the cause is "
        "fixed, retry them through the bridge's stages, or drop them.",
    )
    actions = parked.add_subparsers(dest="parked_action", required=True, metavar="ACTION")
    listing = actions.add_parser(
        "list",
        help="the parked changes, oldest first",
        description="List the parked changes: id, when, hotel, table, operation and error.",
    )
    listing.add_argument("--hotel", type=int, default=None, help="one hotel's changes")
    listing.add_argument("--limit", type=int, default=1000)
    listing.set_defaults(handler=cmd_parked_list)
    showing = actions.add_parser(
        "show",
        help="one parked change, with its payload, as JSON",
        description="Print one parked change with the change as it was parked, as JSON.",
    )
    showing.add_argument("id", type=int, metavar="ID")
    showing.set_defaults(handler=cmd_parked_show)
    for name, handler, summary, text in (
        (
            "retry",
            cmd_parked_retry,
            "apply parked changes again (needs REDIS_URL)",
            "Apply parked changes again through the bridge's stages (needs REDIS_URL, the "
            "cache `run` uses): each one applied is removed; one that fails again stays "
            "parked with the new error (exit status 1).",
        ),
        ("drop", cmd_parked_drop, "remove parked changes", "Remove parked changes for good."),
    ):
        action = actions.add_parser(name, help=summary, description=text)
        action.add_argument("ids", type=int, nargs="*", metavar="ID")
        action.add_argument("--all", action="store_true", help="every parked change")
        action.add_argument("--hotel", type=int, default=None, help="with --all: one hotel's")
        action.set_defaults(handler=handler)
