"""Logical-capture helpers: a bridge on the test database stepped by hand, with a stage that
records every change it is given."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, timedelta
from typing import Any

import msgspec
import psycopg

from bridge.cache.memory import MemoryCache
from bridge.changes import Change
from bridge.config import Settings
from bridge.pipeline import AvailabilityStage, Bridge, SyncStatusStage
from bridge.service import build_source, horizon
from tests.support.pipeline import cached, truth


class Recorder:
    """A stage that keeps every change it is given, batch by batch."""

    name = "recorder"

    def __init__(self) -> None:
        self.batches: list[list[Change]] = []

    @property
    def changes(self) -> list[Change]:
        return [c for batch in self.batches for c in batch]

    def project(self, changes: Sequence[Change]) -> list[Change]:
        return list(changes)

    async def apply(self, conn: psycopg.AsyncConnection[Any], changes: list[Change]) -> None:
        self.batches.append(changes)


class Harness:
    def __init__(self, settings: Settings) -> None:
        self.settings = msgspec.structs.replace(settings, capture="logical")
        assert self.settings.database_url is not None
        self.url = self.settings.database_url
        self.cache = MemoryCache()
        self.recorder = Recorder()
        self.bridge = Bridge(
            self.url,
            build_source(self.settings, self.cache),
            [
                AvailabilityStage(self.cache, horizon(self.settings)),
                SyncStatusStage(),
                self.recorder,
            ],
        )

    async def sql(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        async with await psycopg.AsyncConnection.connect(self.url) as conn:
            cur = await conn.execute(statement.encode(), params)
            return await cur.fetchall() if cur.description else []

    async def step_until(self, done: Callable[[], Awaitable[bool]], steps: int = 100) -> None:
        """Step the bridge until `done()`; a bound on steps, not on time."""
        for _ in range(steps):
            if await done():
                return
            await self.bridge.step()
        assert await done()

    async def in_sync(self) -> bool:
        return await cached(self.cache) == await truth(self.url, self.settings)

    async def entry(self, hotel_id: int, room_type_id: int, night: date) -> tuple[int, int, int]:
        return (await cached(self.cache))[(hotel_id, room_type_id, night)]


async def two_rooms_of_different_types(
    h: Harness, hotel_id: int, free_on: tuple[date, ...] = ()
) -> tuple[int, int, int, int]:
    """Sellable rooms of two types, with no reservation night on any of `free_on`."""
    rows = await h.sql(
        "SELECT DISTINCT ON (room_type_id) id, room_type_id FROM rooms r WHERE hotel_id = %s"
        " AND for_sale AND NOT is_staff_room AND NOT EXISTS (SELECT 1 FROM reservation_details"
        " d WHERE d.hotel_id = r.hotel_id AND d.room_id = r.id AND d.date = ANY(%s))"
        " ORDER BY room_type_id, id",
        (hotel_id, list(free_on)),
    )
    (room_a, type_a), (room_b, type_b) = rows[0], rows[1]
    return room_a, type_a, room_b, type_b


async def book(h: Harness, hotel_id: int, room_id: int, night: date) -> uuid.UUID:
    reservation_id = uuid.uuid4()
    rows = await h.sql(
        "WITH c AS (SELECT id FROM clients LIMIT 1), r AS (INSERT INTO reservations (id, hotel_id,"
        " reservation_client_id, check_in, check_out, number_of_people, status) SELECT %s, %s,"
        " c.id, %s, %s, 1, 'confirmed' FROM c RETURNING id)"
        " INSERT INTO reservation_details (hotel_id, reservation_id, date, room_id,"
        " number_of_people) SELECT %s, r.id, %s, %s, 1 FROM r RETURNING id",
        (reservation_id, hotel_id, night, night + timedelta(days=1), hotel_id, night, room_id),
    )
    detail_id: uuid.UUID = rows[0][0]
    return detail_id
