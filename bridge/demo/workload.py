"""A PMS-like workload for the demo and benchmarks: book, move, cancel and edit reservations."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from datetime import date, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from bridge.db import connect
from bridge.sql import query


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
        cur = await conn.execute(query("workload_rooms"))
        for row in await cur.fetchall():
            self.rooms.setdefault(row["hotel_id"], []).append(row["id"])
        cur = await conn.execute(query("workload_clients"))
        self.clients = [row["id"] for row in await cur.fetchall()]
        cur = await conn.execute(query("workload_reservations"))
        self.reservations = [(row["hotel_id"], row["id"]) for row in await cur.fetchall()]

    async def run(self, stop: asyncio.Event) -> None:
        async with await connect(self.database_url, row_factory=dict_row) as conn:
            await self.load(conn)
        await asyncio.gather(*(self._worker(stop) for _ in range(self.workers)))

    async def _worker(self, stop: asyncio.Event) -> None:
        interval = self.workers / self.rate if self.rate > 0 else 0.0
        next_at = time.monotonic()
        async with await connect(self.database_url, row_factory=dict_row) as conn:
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
            cur = await conn.execute(
                query("workload_room_taken"),
                {
                    "hotel_id": hotel_id,
                    "room_id": room_id,
                    "start": check_in,
                    "end": check_in + timedelta(days=nights),
                },
            )
            row = await cur.fetchone()
            if row is not None and row["taken"]:
                return 0
            reservation_id = uuid.uuid4()
            cur = await conn.execute(
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
            row = await cur.fetchone()
        self.reservations.append((hotel_id, reservation_id))
        return 1 + (int(row["written"]) if row else 0)

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
            cur = await conn.execute(
                query("workload_cancel"), {"hotel_id": hotel_id, "reservation_id": reservation_id}
            )
            row = await cur.fetchone()
        return int(row["changed"]) if row else 0

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
