"""Bookings made, moved and cancelled through the API reach the cache through the bridge (CDC)."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

import psycopg

from bridge.cache.base import Cache
from bridge.config import Settings
from tests.support.api_server import body, create_key, room_type_with_rooms, running_api
from tests.support.pipeline import cached, run_once, truth

P = "/api/booking-engine"


async def test_update_and_cancel_restore_availability_through_the_bridge(
    settings: Settings, db_url: str, cache: Cache
) -> None:
    key = await create_key(db_url, 1, "book")
    type_id, _ = await room_type_with_rooms(db_url, 1)
    first = date.today() + timedelta(days=40)  # past the seeded bookings
    moved = first + timedelta(days=5)
    window = {
        "start_date": first.isoformat(),
        "end_date": (moved + timedelta(days=3)).isoformat(),
        "room_type_id": str(type_id),
    }

    async def available(http: Any) -> dict[str, int]:
        reply = await http.get(f"{P}/availability/1", params=window)
        assert reply.status_code == 200, reply.text
        return {n["date"]: n["available"] for n in reply.json()["room_types"][0]["nights"]}

    await run_once(settings, cache)
    async with running_api(settings, cache) as api, api.client(key) as http:
        before = await available(http)
        created = await http.post(
            f"{P}/bookings", json=body(type_id, first, guest={"name": "Grace Hopper"})
        )
        assert created.status_code == 201, created.text
        booking_id = created.json()["booking_id"]
        await run_once(settings, cache)
        booked = await available(http)
        assert assert_delta(before, booked, first, 2) == -1

        updated = await http.put(
            f"{P}/bookings/{booking_id}",
            json={
                "check_in": moved.isoformat(),
                "check_out": (moved + timedelta(days=3)).isoformat(),
                "guest": {"email": "grace@example.test"},
            },
        )
        assert updated.status_code == 200, updated.text
        assert [n["date"] for n in updated.json()["nights"]] == [
            (moved + timedelta(days=i)).isoformat() for i in range(3)
        ]
        assert updated.json()["guest"]["email"] == "grace@example.test"
        await run_once(settings, cache)
        after_move = await available(http)
        assert assert_delta(before, after_move, first, 2) == 0  # old nights given back
        assert assert_delta(before, after_move, moved, 3) == -1

        cancelled = await http.delete(f"{P}/bookings/{booking_id}")
        assert cancelled.status_code == 200
        assert cancelled.json()["status"] == "cancelled"
        assert all(n["cancelled"] for n in cancelled.json()["nights"])
        await run_once(settings, cache)
        assert await available(http) == before
        again = await http.put(f"{P}/bookings/{booking_id}", json={"guests": 2})
        assert again.status_code == 409

    expected, have = await truth(db_url, settings), await cached(cache)
    assert have and all(expected[k] == v for k, v in have.items())
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        cur = await conn.execute(
            "SELECT origin, last_change_op FROM booking_sync_status WHERE booking_id = %s",
            (booking_id,),
        )
        # The same words as a change captured from the PMS writes.
        assert await cur.fetchall() == [("booking_engine", "update")]


def assert_delta(before: dict[str, int], after: dict[str, int], start: date, nights: int) -> int:
    """The one change in availability over those nights (they all moved alike)."""
    deltas = {
        after[d] - before[d]
        for d in ((start + timedelta(days=i)).isoformat() for i in range(nights))
    }
    assert len(deltas) == 1, deltas
    return deltas.pop()


async def test_availability_answers_follow_the_in_process_bridge(
    settings: Settings, db_url: str
) -> None:
    """With the bridge in the same process (as `pms-bridge run`), repeated availability answers
    are memoized, and a booking's change still shows once the bridge has applied it."""
    from bridge.cache.memory import MemoryCache

    key = await create_key(db_url, 1, "book")
    type_id, _ = await room_type_with_rooms(db_url, 1)
    night = date.today() + timedelta(days=45)
    window = {
        "start_date": night.isoformat(),
        "end_date": (night + timedelta(1)).isoformat(),
        "room_type_id": str(type_id),
    }
    server = running_api(settings, MemoryCache(), run_bridge=True)
    async with server as api, api.client(key) as http:

        async def free() -> int:
            reply = await http.get(f"{P}/availability/1", params=window)
            assert reply.status_code == 200
            return int(reply.json()["room_types"][0]["nights"][0]["available"])

        before = await free()
        assert await free() == before
        created = await http.post(
            f"{P}/bookings",
            json={
                "hotel_id": 1,
                "room_type_id": type_id,
                "check_in": night.isoformat(),
                "check_out": (night + timedelta(1)).isoformat(),
                "guests": 1,
                "guest": {"name": "Katherine Johnson"},
            },
        )
        assert created.status_code == 201
        seen = before
        for _ in range(300):  # an upper bound on waiting for capture, not a timing assertion
            seen = await free()
            if seen != before:
                break
            await asyncio.sleep(0.1)
        assert seen == before - 1


async def test_hotel_answers_follow_a_manual_cache_update(settings: Settings, db_url: str) -> None:
    """Hotel answers are memoized beside the in-process bridge; an update through the API
    shows at once."""
    from bridge.cache.memory import MemoryCache

    admin = await create_key(db_url, 1, "admin")
    server = running_api(settings, MemoryCache(), run_bridge=True)
    async with server as api, api.client(admin) as http:
        first = await http.get(f"{P}/hotels/1")
        assert first.status_code == 200
        async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
            await conn.execute("UPDATE hotels SET name = 'Renamed Hotel' WHERE id = 1")
        updated = await http.post(f"{P}/cache/update-hotels", json={"hotel_id": 1})
        assert updated.status_code == 200 and updated.json()["status"] == "completed"
        after = await http.get(f"{P}/hotels/1")
        assert after.json()["name"] == "Renamed Hotel"
        assert {k: v for k, v in after.json().items() if k != "name"} == {
            k: v for k, v in first.json().items() if k != "name"
        }
