"""The demo's booking engine: a local receiver every demo hotel delivers to, and its totals."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import datetime

import msgspec

from bridge.db import connect, fetch_all, fetch_value
from bridge.delivery.receiver import Received, Receiver
from bridge.delivery.retry import summary
from bridge.sql import query

# A few first attempts fail, so the demo shows retries working; none fail for good.
FLAKY_SHARE = 0.05


async def start_demo_receiver(database_url: str, *, seed: int = 11) -> Receiver:
    """Start the receiver and point every hotel's booking_engine_config at it."""
    rng = random.Random(seed)

    def flaky(_request: Received, seen: int) -> int:
        return 503 if seen == 0 and rng.random() < FLAKY_SHARE else 200

    receiver = Receiver({}, flaky)
    url = await receiver.start()
    async with await connect(database_url, autocommit=True) as conn:
        rows = await fetch_all(conn, HotelSecret, query("delivery_demo_configure"), {"url": url})
        receiver.secrets.update({row.hotel_id: row.webhook_secret for row in rows})
    return receiver


class HotelSecret(msgspec.Struct, frozen=True):
    hotel_id: int
    webhook_secret: str


async def finish_demo_delivery(
    database_url: str, since: datetime, receiver: Receiver, *, limit: float = 60.0
) -> str:
    """Wait (up to `limit` s) for the events in flight, stop the receiver, and return the
    summary's delivery fields: `delivered=N retried=N failed=N`."""
    deadline = time.monotonic() + limit
    async with await connect(database_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            if not await fetch_value(conn, query("delivery_open_events")):
                break
            await asyncio.sleep(0.2)
        totals = await summary(conn, since.astimezone())
    await receiver.stop()
    bad = sum(1 for r in receiver.requests if not r.signature_ok)
    text = f"delivered={totals.delivered} retried={totals.retried} failed={totals.failed}"
    if totals.pending or bad:
        text += f" undelivered={totals.pending} bad_signatures={bad}"
    return text
