"""`pms-bridge webhook set --hotel ID --url URL`: the hotel's webhook URL and a new secret,
printed once and stored sealed under BRIDGE_SECRET_KEY; `webhook seal`: seal the secrets
still stored in plain text."""

from __future__ import annotations

import argparse
import ipaddress
import secrets
import sys
import urllib.parse
from typing import Any

import msgspec

from bridge.config import ConfigError, Settings, require_database, secret_key
from bridge.sql import query


class PlainSecret(msgspec.Struct, frozen=True):
    id: int
    hotel_id: int
    webhook_secret: str


def checked_url(url: str, settings: Settings) -> str:
    """The URL if delivery could send to it; the address it resolves to is checked again at
    every connection (bridge/delivery/destination.py)."""
    from bridge.delivery.destination import refusal

    parts = urllib.parse.urlsplit(url)
    plain_allowed = settings.webhook_allow_loopback_http
    if parts.scheme != "https" and not (parts.scheme == "http" and plain_allowed):
        raise ConfigError(f"--url {url!r}: webhooks go to https:// URLs only")
    if not parts.hostname:
        raise ConfigError(f"--url {url!r} names no host")
    try:
        address = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return url
    why = refusal(address, loopback_only=parts.scheme == "http")
    if why is not None:
        raise ConfigError(f"--url {url!r}: {why}; webhooks go to public addresses only")
    return url


async def cmd_webhook_set(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.db import connect, fetch_value
    from bridge.delivery.sealing import seal
    from bridge.migrate import require_migrated

    url = checked_url(args.url, settings)
    key = secret_key(settings)
    secret = secrets.token_hex(32)
    stored = seal(key, args.hotel, secret) if key is not None else secret
    async with await connect(require_database(settings), autocommit=True) as conn:
        await require_migrated(conn)
        if not await fetch_value(conn, query("api_hotel_exists"), {"hotel_id": args.hotel}):
            raise ConfigError(f"--hotel {args.hotel}: no such hotel in the PMS")
        await conn.execute(
            query("webhook_set"), {"hotel_id": args.hotel, "url": url, "secret": stored}
        )
    print(secret)
    kept = "sealed" if key is not None else "in plain text (set BRIDGE_SECRET_KEY to seal it)"
    print(
        f"webhook: hotel {args.hotel} delivers to {url}; its secret is stored {kept} and "
        "shown only now: give it to the booking engine",
        file=sys.stderr,
    )
    return 0


async def cmd_webhook_seal(_args: argparse.Namespace, settings: Settings) -> int:
    from bridge.db import connect, fetch_all
    from bridge.delivery.sealing import seal
    from bridge.migrate import require_migrated

    key = secret_key(settings)
    if key is None:
        raise ConfigError(
            "BRIDGE_SECRET_KEY is not set; e.g. export BRIDGE_SECRET_KEY=$(openssl rand -base64 32)"
        )
    sealed = 0
    async with await connect(require_database(settings), autocommit=True) as conn:
        await require_migrated(conn)
        for row in await fetch_all(conn, PlainSecret, query("webhook_plain_secrets")):
            plain = row.webhook_secret
            done = await conn.execute(
                query("webhook_seal"),
                {"id": row.id, "plain": plain, "sealed": seal(key, row.hotel_id, plain)},
            )
            sealed += done.rowcount
    print(f"webhook: sealed {sealed} secret(s)")
    return 0


def register(sub: Any) -> None:
    webhook = sub.add_parser(
        "webhook",
        help="the booking engine's webhook per hotel",
        description="Point a hotel's webhook at a URL with a new secret, and seal secrets.",
    )
    actions = webhook.add_subparsers(dest="webhook_action", required=True, metavar="ACTION")
    setting = actions.add_parser(
        "set",
        help="a hotel's webhook URL and a new secret (printed once)",
        description="Set a hotel's webhook URL (https, to a public address) and give it a new "
        "signing secret, printed once on stdout and stored sealed under BRIDGE_SECRET_KEY "
        "(in plain text without it).",
    )
    setting.add_argument("--hotel", type=int, required=True)
    setting.add_argument("--url", required=True, help="https://... of the booking engine")
    setting.set_defaults(handler=cmd_webhook_set)
    sealing = actions.add_parser(
        "seal",
        help="seal the secrets stored in plain text",
        description="Seal every webhook secret still stored in plain text under "
        "BRIDGE_SECRET_KEY (the column's default makes plain ones). Prints no secret.",
    )
    sealing.set_defaults(handler=cmd_webhook_seal)
