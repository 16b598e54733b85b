"""Trigger-capture helpers: a reservation written by plain SQL, a free room, the sync rows,
and a bridge running in the background."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, timedelta

import psycopg

from bridge.pipeline import Bridge


async def book(url: str, hotel_id: int, room_id: int, night: date, nights: int = 1) -> uuid.UUID:
    reservation_id = uuid.uuid4()
    async with await psycopg.AsyncConnection.connect(url) as conn:
        client = await (await conn.execute("SELECT id FROM clients LIMIT 1")).fetchone()
        assert client is not None
        await conn.execute(
            "INSERT INTO reservations (id, hotel_id, reservation_client_id, check_in, check_out,"
            " number_of_people, status) VALUES (%s, %s, %s, %s, %s, 1, 'confirmed')",
            (reservation_id, hotel_id, client[0], night, night + timedelta(days=nights)),
        )
        for n in range(nights):
            await conn.execute(
                "INSERT INTO reservation_details (hotel_id, reservation_id, date, room_id,"
                " number_of_people) VALUES (%s, %s, %s, %s, 1)",
                (hotel_id, reservation_id, night + timedelta(days=n), room_id),
            )
    return reservation_id


async def free_room(url: str, hotel_id: int, night: date) -> tuple[int, int]:
    """A sellable room free on `night`, with its room type."""
    async with await psycopg.AsyncConnection.connect(url) as conn:
        row = await (
            await conn.execute(
                "SELECT r.id, r.room_type_id FROM rooms r WHERE r.hotel_id = %s AND r.for_sale"
                " AND NOT r.is_staff_room AND NOT EXISTS (SELECT 1 FROM reservation_details d"
                " WHERE d.hotel_id = r.hotel_id AND d.room_id = r.id AND d.date = %s)"
                " ORDER BY r.id LIMIT 1",
                (hotel_id, night),
            )
        ).fetchone()
    assert row is not None
    return row[0], row[1]


async def sync_rows(url: str) -> set[tuple[int, uuid.UUID]]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute("SELECT hotel_id, booking_id FROM booking_sync_status")
        return {(h, b) for h, b in await cur.fetchall()}


@asynccontextmanager
async def running(bridge: Bridge) -> AsyncIterator[None]:
    """Bridge.run in the background, connected (slot or LISTEN in place) before the body runs."""
    stop = asyncio.Event()
    task = asyncio.create_task(bridge.run(stop))
    deadline = time.monotonic() + 30
    while not bridge.connected:
        assert not task.done(), task.exception() if task.done() else None
        assert time.monotonic() < deadline, "bridge did not connect"
        await asyncio.sleep(0.05)
    try:
        yield
    finally:
        stop.set()
        await task
