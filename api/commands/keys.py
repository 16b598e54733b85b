"""`pms-bridge keys create --hotel ID`: a new API key, printed once and stored only as a hash;
`keys list [--hotel ID]` and `keys revoke KEY_ID`."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import datetime, timedelta
from typing import Any

import msgspec
import psycopg

from api.auth.keys import IMPLIED, RECORD_TTL_SECONDS, generate, key_id_of
from bridge.config import ConfigError, Settings, require_database
from bridge.sql import query

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


class CreatedKey(msgspec.Struct, frozen=True):
    key_id: str
    key: str
    expires_at: datetime | None


class _InsertedKey(msgspec.Struct, frozen=True):
    id: int
    expires_at: datetime | None


class _RevokedKey(msgspec.Struct, frozen=True):
    hotel_id: int | None


class ListedKey(msgspec.Struct, frozen=True):
    key_id: str
    hotel_id: int
    scopes: list[str]
    created_at: datetime | None
    expires_at: datetime | None
    revoked: bool


async def create_key(
    conn: psycopg.AsyncConnection[Any],
    hotel_id: int,
    scope: str,
    *,
    expires_in: timedelta | None = None,
    description: str | None = None,
) -> CreatedKey:
    """A new key for the hotel, stored as a hash: `keys create`, and the demo's key."""
    from bridge.db import fetch_one, fetch_value
    from bridge.migrate import require_migrated

    await require_migrated(conn)
    if not await fetch_value(conn, query("api_hotel_exists"), {"hotel_id": hotel_id}):
        raise ConfigError(f"--hotel {hotel_id}: no such hotel in the PMS")
    new = generate()
    inserted = await fetch_one(
        conn,
        _InsertedKey,
        query("api_key_insert"),
        {
            "hotel_id": hotel_id,
            "key_id": new.key_id,
            "hash": new.key_hash,
            "description": description,
            "scopes": list(IMPLIED[scope]),
            "expires_in": expires_in.total_seconds() if expires_in else None,
        },
    )
    return CreatedKey(new.key_id, new.key, inserted.expires_at if inserted else None)


async def cmd_keys_create(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.db import connect

    expires_in = parse_duration(args.expires_in) if args.expires_in else None
    async with await connect(require_database(settings), autocommit=True) as conn:
        new = await create_key(
            conn, args.hotel, args.scope, expires_in=expires_in, description=args.description
        )
    expires_at = new.expires_at
    print(new.key)
    until = f", expires {expires_at:%Y-%m-%d %H:%M}" if expires_at else ""
    print(
        f"keys: created key {new.key_id} for hotel {args.hotel}, scope {args.scope}{until}; "
        "the key is shown only now, store it safely",
        file=sys.stderr,
    )
    return 0


def _when(moment: datetime | None, otherwise: str) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment else otherwise


async def cmd_keys_list(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.db import connect, fetch_all
    from bridge.migrate import require_migrated

    async with await connect(require_database(settings), autocommit=True) as conn:
        await require_migrated(conn)
        keys = await fetch_all(conn, ListedKey, query("api_key_list"), {"hotel_id": args.hotel})
    print(
        f"{'KEY ID':<16}  {'HOTEL':>5}  {'SCOPES':<15}  {'CREATED':<16}  {'EXPIRES':<16}  REVOKED"
    )
    for key in keys:
        print(
            f"{key.key_id:<16}  {key.hotel_id:>5}  {','.join(key.scopes):<15}  "
            f"{_when(key.created_at, '-'):<16}  {_when(key.expires_at, 'never'):<16}  "
            f"{'yes' if key.revoked else 'no'}"
        )
    return 0


async def cmd_keys_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.db import connect, fetch_one
    from bridge.migrate import require_migrated

    # The key id, or the whole key pasted: its id is the part after `pmsb_`.
    key_id = key_id_of(args.key_id) or args.key_id
    async with await connect(require_database(settings), autocommit=True) as conn:
        await require_migrated(conn)
        revoked = await fetch_one(conn, _RevokedKey, query("api_key_revoke"), {"key_id": key_id})
    if revoked is None:
        raise ConfigError(f"no API key {key_id!r} (`pms-bridge keys list` shows them)")
    print(
        f"keys: revoked key {key_id} of hotel {revoked.hotel_id}; a running API refuses it "
        f"within {RECORD_TTL_SECONDS:.0f} s, and its refresh tokens with it"
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
        "--scope",
        choices=["read", "book", "admin", "operator"],
        default="book",
        help="read < book < admin < operator; each includes the ones before; an operator's "
        "admin calls reach every hotel (default: book)",
    )
    create.add_argument("--expires-in", default=None, help="e.g. 90d, 12h (default: never)")
    create.add_argument("--description", default=None)
    create.set_defaults(handler=cmd_keys_create)
    listing = actions.add_parser(
        "list",
        help="the keys: id, hotel, scopes, dates, revoked",
        description="List the API keys (all, or one hotel's): key id, hotel, scopes, created, "
        "expires and whether revoked. Never the secret: only its hash is stored.",
    )
    listing.add_argument("--hotel", type=int, default=None, help="one hotel's keys")
    listing.set_defaults(handler=cmd_keys_list)
    revoke = actions.add_parser(
        "revoke",
        help="revoke a key (a running API refuses it within 5 s)",
        description="Revoke an API key by its id (the 16 hex digits after `pmsb_`, as `keys "
        "list` shows it). Every running API refuses it within 5 s, and its refresh tokens "
        "with it; access tokens issued from it stop working with it.",
    )
    revoke.add_argument("key_id", metavar="KEY_ID")
    revoke.set_defaults(handler=cmd_keys_revoke)
