"""`pms-bridge keys create --hotel ID`: a new API key, printed once and stored only as a hash."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import timedelta
from typing import Any

from bridge.config import ConfigError, Settings, require_database

_DURATION = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """`30d`, `12h`, `90m`, `2w`."""
    match = _DURATION.match(text.strip())
    if not match or int(match[1]) == 0:
        raise ConfigError(
            f"--expires-in {text!r}: use a positive number with m, h, d or w, e.g. 90d"
        )
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


async def cmd_keys_create(args: argparse.Namespace, settings: Settings) -> int:
    from api.auth.keys import IMPLIED, generate
    from bridge.db import connect
    from bridge.migrate import require_migrated
    from bridge.sql import query

    expires_in = parse_duration(args.expires_in).total_seconds() if args.expires_in else None
    new = generate()
    async with await connect(require_database(settings), autocommit=True) as conn:
        await require_migrated(conn)
        cur = await conn.execute(query("api_hotel_exists"), {"hotel_id": args.hotel})
        row: Any = await cur.fetchone()
        if not row or not row[0]:
            raise ConfigError(f"--hotel {args.hotel}: no such hotel in the PMS")
        cur = await conn.execute(
            query("api_key_insert"),
            {
                "hotel_id": args.hotel,
                "key_id": new.key_id,
                "hash": new.key_hash,
                "description": args.description,
                "scopes": list(IMPLIED[args.scope]),
                "expires_in": expires_in,
            },
        )
        row = await cur.fetchone()
        expires_at = row[1] if row else None
    print(new.key)
    until = f", expires {expires_at:%Y-%m-%d %H:%M}" if expires_at else ""
    print(
        f"keys: created key {new.key_id} for hotel {args.hotel}, scope {args.scope}{until}; "
        "the key is shown only now, store it safely",
        file=sys.stderr,
    )
    return 0


def register(sub: Any) -> None:
    keys = sub.add_parser(
        "keys",
        help="booking-engine API keys",
        description="Create, list and revoke the booking engine's API keys.",
    )
    actions = keys.add_subparsers(dest="keys_action", required=True, metavar="ACTION")
    create = actions.add_parser(
        "create",
        help="create a key for one hotel (printed once)",
        description="Create an API key for one hotel. The key is printed once, on stdout; "
        "the database keeps only its hash.",
    )
    create.add_argument("--hotel", type=int, required=True, help="the hotel the key may see")
    create.add_argument(
        "--scope", choices=["read", "book", "admin"], default="book",
        help="read < book < admin; each includes the ones before (default: book)",
    )  # fmt: skip
    create.add_argument("--expires-in", default=None, help="e.g. 90d, 12h (default: never)")
    create.add_argument("--description", default=None)
    create.set_defaults(handler=cmd_keys_create)
