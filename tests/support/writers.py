"""Concurrent PMS-like writers for the integration tests, recording exactly what they committed."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import date, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from bridge.sql import query


class Writers:
    """Book, move, cancel and edit reservations over several connections.

    `changes` counts the watched-table rows changed by transactions known to have committed;
    `touched` holds every reservation such a transaction changed. A transaction whose commit
    was cut off by a lost connection is counted in `uncertain`, never in the other two.
    """

    def __init__(self, url: str, *, workers: int = 4, seed: int = 11) -> None:
        self.url = url
        self.workers = workers
        self.rng = random.Random(seed)
        self.changes = 0
        self.transactions = 0
        self.uncertain = 0
        self.touched: set[tuple[int, uuid.UUID]] = set()
        self.reservations: list[tuple[int, uuid.UUID]] = []
        self.rooms: dict[int, list[int]] = {}
        self.clients: list[uuid.UUID] = []

    async def load(self) -> None:
        async with await psycopg.AsyncConnection.connect(self.url, row_factory=dict_row) as conn:
            for row in await (await conn.execute(query("workload_rooms"))).fetchall():
                self.rooms.setdefault(row["hotel_id"], []).append(row["id"])
            cur = await conn.execute(query("workload_clients"))
            self.clients = [row["id"] for row in await cur.fetchall()]
            cur = await conn.execute(query("workload_reservations"))
            self.reservations = [(row["hotel_id"], row["id"]) for row in await cur.fetchall()]

    async def run(self, target: int, stop: asyncio.Event | None = None) -> None:
        """Write until `target` changes committed (or `stop` is set)."""
        if not self.rooms:
            await self.load()
        stop = stop or asyncio.Event()
        await asyncio.gather(*(self._worker(target, stop) for _ in range(self.workers)))

    async def _worker(self, target: int, stop: asyncio.Event) -> None:
        conn: psycopg.AsyncConnection[Any] | None = None
        try:
            while self.changes < target and not stop.is_set():
                if conn is None or conn.closed:
                    try:
                        conn = await psycopg.AsyncConnection.connect(
                            self.url, connect_timeout=5, row_factory=dict_row
                        )
                    except psycopg.OperationalError:
                        await asyncio.sleep(0.2)  # the server is restarting
                        continue
                try:
                    changed, reservations = await self._one(conn)
                except (psycopg.errors.IntegrityError, psycopg.errors.TransactionRollback):
                    continue
                except (psycopg.OperationalError, psycopg.InterfaceError):
                    self.uncertain += 1
                    await conn.close()
                    continue
                self.changes += changed
                self.transactions += 1
                if changed:
                    self.touched.update(reservations)
                # Yield so the writers and an in-process bridge share the loop fairly.
                await asyncio.sleep(0)
        finally:
            if conn is not None:
                await conn.close()

    async def _one(
        self, conn: psycopg.AsyncConnection[Any]
    ) -> tuple[int, list[tuple[int, uuid.UUID]]]:
        roll = self.rng.random()
        if roll < 0.45 or len(self.reservations) < 10:
            return await self._book(conn)
        hotel_id, reservation_id = self.rng.choice(self.reservations)
        target = [(hotel_id, reservation_id)]
        key = {"hotel_id": hotel_id, "reservation_id": reservation_id}
        async with conn.transaction():
            if roll < 0.75:
                move = {
                    **key,
                    "room_id": self.rng.choice(self.rooms[hotel_id]),
                    "shift": self.rng.choice([-1, 0, 0, 1]),
                }
                cur = await conn.execute(query("workload_move"), move)
                changed = max(cur.rowcount, 0)
            elif roll < 0.9:
                # The PMS's cancel: the reservation and its nights, counted by the statement.
                cur = await conn.execute(query("workload_cancel"), key)
                row = await cur.fetchone()
                changed = int(row["changed"]) if row else 0
            else:
                edit = {**key, "comment": f"edit {self.rng.random()}"}
                cur = await conn.execute(query("workload_edit"), edit)
                changed = max(cur.rowcount, 0)
        return changed, target

    async def _book(
        self, conn: psycopg.AsyncConnection[Any]
    ) -> tuple[int, list[tuple[int, uuid.UUID]]]:
        hotel_id = self.rng.choice(list(self.rooms))
        reservation_id = uuid.uuid4()
        params = {
            "id": reservation_id,
            "hotel_id": hotel_id,
            "client_id": self.rng.choice(self.clients),
            "check_in": date.today() + timedelta(days=self.rng.randint(-5, 200)),
            "nights": self.rng.randint(1, 3),
            "room_id": self.rng.choice(self.rooms[hotel_id]),
        }
        async with conn.transaction():
            cur = await conn.execute(query("workload_book"), params)
            row = await cur.fetchone()
        self.reservations.append((hotel_id, reservation_id))
        return 1 + (int(row["written"]) if row else 0), [(hotel_id, reservation_id)]
