"""Delivery helpers: SQL on the test database, a PMS-style booking, a receiver playing the
booking engine's webhook, and a delivery worker running in the background."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import date, timedelta
from typing import Any

import psycopg

from bridge.delivery.receiver import Received, Receiver, Script
from bridge.delivery.worker import DeliveryWorker


async def sql(url: str, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute(statement, params)
        return await cur.fetchall() if cur.description else []


async def configure(url: str, receiver_url: str, hotel_id: int = 1) -> str:
    rows = await sql(
        url,
        "INSERT INTO booking_engine_config (hotel_id, booking_engine_url, sync_enabled)"
        " VALUES (%s, %s, true) RETURNING webhook_secret",
        (hotel_id, receiver_url),
    )
    return str(rows[0][0])


async def book(url: str, hotel_id: int = 1, nights: int = 2, offset: int = 20) -> uuid.UUID:
    """A reservation with its nights, written in one transaction the way the PMS does."""
    reservation_id = uuid.uuid4()
    night = date.today() + timedelta(days=offset)
    async with await psycopg.AsyncConnection.connect(url) as conn:
        room = await (
            await conn.execute(
                "SELECT r.id FROM rooms r WHERE r.hotel_id = %s AND r.for_sale AND NOT EXISTS"
                " (SELECT 1 FROM reservation_details d WHERE d.hotel_id = r.hotel_id"
                "  AND d.room_id = r.id AND d.date >= %s AND d.date < %s)"
                " ORDER BY r.id LIMIT 1",
                (hotel_id, night, night + timedelta(days=nights)),
            )
        ).fetchone()
        client = await (await conn.execute("SELECT id FROM clients LIMIT 1")).fetchone()
        assert room is not None and client is not None
        await conn.execute(
            "INSERT INTO reservations (id, hotel_id, reservation_client_id, check_in, check_out,"
            " number_of_people, status) VALUES (%s, %s, %s, %s, %s, 1, 'confirmed')",
            (reservation_id, hotel_id, client[0], night, night + timedelta(days=nights)),
        )
        for n in range(nights):
            await conn.execute(
                "INSERT INTO reservation_details (hotel_id, reservation_id, date, room_id,"
                " number_of_people, price) VALUES (%s, %s, %s, %s, 1, 12000)",
                (hotel_id, reservation_id, night + timedelta(days=n), room[0]),
            )
    return reservation_id


async def sync_row(url: str, booking_id: uuid.UUID) -> tuple[Any, ...]:
    rows = await sql(
        url,
        "SELECT sync_status, retry_count, error_message, booking_engine_id,"
        " last_sync_attempt IS NOT NULL FROM booking_sync_status WHERE booking_id = %s",
        (booking_id,),
    )
    assert rows, "no booking_sync_status row"
    return rows[0]


async def wait_for(check: Callable[[], Awaitable[bool]], limit: float = 60.0) -> None:
    """Poll until `check` holds; the limit only stops a hung test, it asserts no speed."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")


@asynccontextmanager
async def receiving(
    url: str, script: Script, hotel_id: int = 1
) -> AsyncIterator[tuple[Receiver, str]]:
    receiver = Receiver({})
    receiver.script = script
    endpoint = await receiver.start()
    secret = await configure(url, endpoint, hotel_id)
    receiver.secrets[hotel_id] = secret
    try:
        yield receiver, secret
    finally:
        await receiver.stop()


@asynccontextmanager
async def delivering(url: str, **options: Any) -> AsyncIterator[DeliveryWorker]:
    worker = DeliveryWorker(
        url, base_delay=0.05, max_delay=0.2, poll_interval=0.1, allow_loopback_http=True, **options
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield worker
    finally:
        stop.set()
        await task


def synced(url: str, booking_id: uuid.UUID) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        rows = await sql(
            url, "SELECT sync_status FROM booking_sync_status WHERE booking_id = %s", (booking_id,)
        )
        return rows == [("synced",)]

    return check


def fail_first(status: int | None) -> Script:
    def script(_request: Received, seen: int) -> int | None:
        return status if seen == 0 else 200

    return script
