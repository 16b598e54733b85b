"""A real booking-engine API for the API tests: uvicorn on a free port, keys made in the DB."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
import msgspec
import psycopg

from api.auth.keys import IMPLIED, generate
from api.context import ApiContext
from bridge.cache.base import Cache
from bridge.config import Settings
from bridge.pipeline import Bridge
from bridge.sql import query
from bridge.wiring.process import serve

JWT_SECRET = "test-secret-" + "x" * 40
GENEROUS = "read=5000:5000,book=5000:5000,admin=5000:5000,auth=5000:5000,failed_auth=5000:5000"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 answer with a Content-Length, off a raw connection: status, headers, body."""
    status = int((await reader.readline()).split(b" ", 2)[1])
    headers: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers["content-length"]))
    return status, headers, body


@dataclass
class ApiServer:
    url: str
    ctx: ApiContext
    settings: Settings
    bridge: Bridge | None

    def client(
        self, key: str | None = None, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.AsyncClient:
        sent = {"Authorization": f"Bearer {key}"} if key else {}
        sent.update(headers or {})
        return httpx.AsyncClient(base_url=self.url, headers=sent, timeout=60, **kwargs)


def body(room_type_id: int, check_in: date, nights: int = 2, **extra: Any) -> dict[str, Any]:
    """A POST /bookings body for hotel 1; `extra` adds or replaces fields."""
    return {
        "hotel_id": 1,
        "room_type_id": room_type_id,
        "check_in": check_in.isoformat(),
        "check_out": (check_in + timedelta(days=nights)).isoformat(),
        "guests": 1,
        "guest": {"name": "Ada Lovelace", "email": "ada@example.test", "phone": "+44 20 0000"},
        **extra,
    }


@asynccontextmanager
async def running_api(
    settings: Settings,
    cache: Cache | None = None,
    *,
    rate_limits: str = GENEROUS,
    run_bridge: bool = False,
) -> AsyncIterator[ApiServer]:
    port = free_port()
    settings = msgspec.structs.replace(
        settings, api_port=port, jwt_secret=JWT_SECRET, rate_limits=rate_limits
    )
    stop = asyncio.Event()
    contexts: list[tuple[Bridge | None, ApiContext]] = []

    def started(bridge: Bridge | None, ctx: ApiContext | None) -> None:
        assert ctx is not None
        contexts.append((bridge, ctx))

    task = asyncio.create_task(
        serve(settings, stop, run_bridge=run_bridge, cache=cache, on_started=started)
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url) as probe:
            for _ in range(300):
                if task.done():
                    task.result()
                try:
                    if (await probe.get("/health/live")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
        yield ApiServer(url, contexts[0][1], settings, contexts[0][0])
    finally:
        stop.set()
        await task


async def create_key(
    db_url: str,
    hotel_id: int,
    scope: str = "book",
    *,
    active: bool = True,
    expires_in: float | None = None,
) -> str:
    new = generate()
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        await conn.execute(
            query("api_key_insert"),
            {
                "hotel_id": hotel_id,
                "key_id": new.key_id,
                "hash": new.key_hash,
                "description": "test",
                "scopes": list(IMPLIED[scope]),
                "expires_in": expires_in,
            },
        )
        if not active:
            await conn.execute(
                "UPDATE booking_engine_api_keys SET is_active = false WHERE key_id = %s",
                (new.key_id,),
            )
    return new.key


async def room_type_with_rooms(db_url: str, hotel_id: int) -> tuple[int, list[int]]:
    """A room type of the hotel with its sellable rooms (lowest type id first)."""
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        cur = await conn.execute(
            "SELECT room_type_id, array_agg(id ORDER BY id) FROM rooms"
            " WHERE hotel_id = %s AND for_sale AND NOT is_staff_room"
            " GROUP BY room_type_id ORDER BY room_type_id LIMIT 1",
            (hotel_id,),
        )
        row = await cur.fetchone()
    assert row is not None
    return int(row[0]), list(row[1])


async def fill_all_but(
    db_url: str, hotel_id: int, room_type_id: int, nights: list[date], keep: int
) -> None:
    """Books every sellable room of the type on those nights except `keep` of them."""
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        client = await (await conn.execute("SELECT id FROM clients LIMIT 1")).fetchone()
        assert client is not None
        cur = await conn.execute(
            "SELECT id FROM rooms WHERE hotel_id = %s AND room_type_id = %s"
            " AND for_sale AND NOT is_staff_room ORDER BY id",
            (hotel_id, room_type_id),
        )
        rooms = [r[0] for r in await cur.fetchall()]
        # Clear the seed's bookings on these nights first, then block all rooms but `keep`.
        await conn.execute(
            "UPDATE reservation_details SET cancelled = reservation_id"
            " WHERE hotel_id = %s AND date = ANY(%s) AND room_id = ANY(%s)",
            (hotel_id, nights, rooms),
        )
        for room in rooms[keep:]:
            res_id = uuid.uuid4()
            await conn.execute(
                "INSERT INTO reservations (id, hotel_id, reservation_client_id, check_in,"
                " check_out, number_of_people, status, type)"
                " VALUES (%s, %s, %s, %s, %s, 1, 'block', 'default')",
                (res_id, hotel_id, client[0], min(nights), max(nights) + timedelta(days=1)),
            )
            for night in nights:
                await conn.execute(
                    "INSERT INTO reservation_details (hotel_id, reservation_id, date, room_id,"
                    " number_of_people) VALUES (%s, %s, %s, %s, 1)",
                    (hotel_id, res_id, night, room),
                )
        await conn.commit()
