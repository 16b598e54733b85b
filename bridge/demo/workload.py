"""A PMS-like workload for the demo and benchmarks: book, move, cancel and edit reservations."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from datetime import date, timedelta
from typing import Any

import msgspec
import psycopg

from bridge.db import connect, fetch_all, fetch_value, fetch_values
from bridge.sql import query


class _Row(msgspec.Struct, frozen=True):
    """A room or a reservation: its hotel and id."""

    hotel_id: int
    id: Any


class Workload:
    """Runs transactions at `rate` per second over `workers` connections and counts the rows
    each committed transaction changed in watched tables (the figure `changes=` reports)."""

    def __init__(self, database_url: str, rate: float, *, workers: int = 4, seed: int = 7) -> None:
        self.database_url = database_url
        self.rate = rate
        self.workers = workers
        self.rng = random.Random(seed)
        self.changes = 0
        self.transactions = 0
        self.conflicts = 0
        self.reservations: list[tuple[int, uuid.UUID]] = []
        self.rooms: dict[int, list[int]] = {}
        self.clients: list[uuid.UUID] = []

    async def load(self, conn: psycopg.AsyncConnection[Any]) -> None:
        for room in await fetch_all(conn, _Row, query("workload_rooms")):
            self.rooms.setdefault(room.hotel_id, []).append(room.id)
        self.clients = await fetch_values(conn, query("workload_clients"))
        reservations = await fetch_all(conn, _Row, query("workload_reservations"))
        self.reservations = [(r.hotel_id, r.id) for r in reservations]

    async def run(self, stop: asyncio.Event) -> None:
        async with await connect(self.database_url) as conn:
            await self.load(conn)
        await asyncio.gather(*(self._worker(stop) for _ in range(self.workers)))

    async def _worker(self, stop: asyncio.Event) -> None:
        interval = self.workers / self.rate if self.rate > 0 else 0.0
        next_at = time.monotonic()
        async with await connect(self.database_url) as conn:
            while not stop.is_set():
                try:
                    changed = await self.one(conn)
                except psycopg.errors.IntegrityError:
                    await conn.rollback()
                    self.conflicts += 1
                    continue
                self.changes += changed
                self.transactions += 1
                next_at += interval
                delay = next_at - time.monotonic()
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), delay)
                else:
                    next_at = time.monotonic()

    async def one(self, conn: psycopg.AsyncConnection[Any]) -> int:
        roll = self.rng.random()
        if roll < 0.45 or len(self.reservations) < 10:
            return await self.book(conn)
        if roll < 0.7:
            return await self.move(conn)
        if roll < 0.85:
            return await self.cancel(conn)
        return await self.edit(conn)

    async def book(self, conn: psycopg.AsyncConnection[Any]) -> int:
        """Select, then insert, as the PMS does: a free room for every night, or no booking."""
        hotel_id = self.rng.choice(list(self.rooms))
        nights = self.rng.randint(1, 3)
        check_in = date.today() + timedelta(days=self.rng.randint(0, 300))
        room_id = self.rng.choice(self.rooms[hotel_id])
        async with conn.transaction():
            taken = await fetch_value(
                conn,
                query("workload_room_taken"),
                {
                    "hotel_id": hotel_id,
                    "room_id": room_id,
                    "start": check_in,
                    "end": check_in + timedelta(days=nights),
                },
            )
            if taken:
                return 0
            reservation_id = uuid.uuid4()
            written = await fetch_value(
                conn,
                query("workload_book"),
                {
                    "id": reservation_id,
                    "hotel_id": hotel_id,
                    "client_id": self.rng.choice(self.clients),
                    "check_in": check_in,
                    "nights": nights,
                    "room_id": room_id,
                },
            )
        self.reservations.append((hotel_id, reservation_id))
        return 1 + int(written or 0)

    async def move(self, conn: psycopg.AsyncConnection[Any]) -> int:
        hotel_id, reservation_id = self.rng.choice(self.reservations)
        async with conn.transaction():
            cur = await conn.execute(
                query("workload_move"),
                {
                    "hotel_id": hotel_id,
                    "reservation_id": reservation_id,
                    "room_id": self.rng.choice(self.rooms[hotel_id]),
                    "shift": self.rng.choice([-1, 0, 0, 1]),
                },
            )
            return max(cur.rowcount, 0)

    async def cancel(self, conn: psycopg.AsyncConnection[Any]) -> int:
        """As the PMS cancels: the reservation's status and every one of its nights."""
        hotel_id, reservation_id = self.rng.choice(self.reservations)
        async with conn.transaction():
            params = {"hotel_id": hotel_id, "reservation_id": reservation_id}
            changed = await fetch_value(conn, query("workload_cancel"), params)
        return int(changed or 0)

    async def edit(self, conn: psycopg.AsyncConnection[Any]) -> int:
        hotel_id, reservation_id = self.rng.choice(self.reservations)
        async with conn.transaction():
            cur = await conn.execute(
                query("workload_edit"),
                {
                    "hotel_id": hotel_id,
                    "reservation_id": reservation_id,
                    "comment": f"edited {time.time():.3f}",
                },
            )
            return max(cur.rowcount, 0)
