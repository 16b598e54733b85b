"""A hotel the PMS adds while the bridge runs (new partitions) is captured like any other."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import date, timedelta

import msgspec
import psycopg

from bridge.cache.memory import MemoryCache
from bridge.config import Settings
from bridge.service import build_bridge
from tests.support.capture import running
from tests.support.pipeline import add_pms_hotel, cached, truth


async def add_hotel(url: str, night: date) -> tuple[int, uuid.UUID]:
    """A new hotel as the PMS adds it, and a booking in it."""
    reservation_id = uuid.uuid4()
    hotel_id = await add_pms_hotel(url, "Added Hotel")
    async with await psycopg.AsyncConnection.connect(url) as conn:
        client = await (await conn.execute("SELECT id FROM clients LIMIT 1")).fetchone()
        assert client is not None
        await conn.execute(
            "INSERT INTO reservations (id, hotel_id, reservation_client_id, check_in, check_out,"
            " number_of_people, status) VALUES (%s, %s, %s, %s, %s, 1, 'confirmed')",
            (reservation_id, hotel_id, client[0], night, night + timedelta(days=1)),
        )
        await conn.execute(
            "INSERT INTO reservation_details (hotel_id, reservation_id, date, room_id,"
            " number_of_people) SELECT %s, %s, %s, min(id), 1 FROM rooms WHERE hotel_id = %s",
            (hotel_id, reservation_id, night, hotel_id),
        )
        await conn.commit()
    return hotel_id, reservation_id


async def test_hotel_added_while_running_is_captured(settings: Settings, capture_mode: str) -> None:
    settings = msgspec.structs.replace(settings, capture=capture_mode)
    url = settings.database_url
    assert url is not None
    cache = MemoryCache()
    bridge, _ = build_bridge(settings, cache)
    night = date.today() + timedelta(days=3)

    async with running(bridge):
        hotel_id, reservation_id = await add_hotel(url, night)

        async def synced() -> bool:
            async with await psycopg.AsyncConnection.connect(url) as conn:
                cur = await conn.execute(
                    "SELECT 1 FROM booking_sync_status WHERE hotel_id = %s AND booking_id = %s",
                    (hotel_id, reservation_id),
                )
                return await cur.fetchone() is not None

        deadline = time.monotonic() + 60
        while not await synced():
            assert time.monotonic() < deadline, "the new hotel's reservation never arrived"
            await asyncio.sleep(0.1)

    new_hotel = {k: v for k, v in (await cached(cache)).items() if k[0] == hotel_id}
    expected = {k: v for k, v in (await truth(url, settings)).items() if k[0] == hotel_id}
    assert new_hotel == expected
    assert len(expected) == 2 * (settings.horizon_days_back + settings.horizon_days_ahead + 1)
    taken = sorted(v[1] for k, v in new_hotel.items() if k[2] == night)
    assert taken == [0, 1]
