"""Read endpoints and cache administration: success paths, read-through, scopes, other hotels."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import psycopg

from api.memo import ResponseMemo
from bridge.cache.base import Cache
from bridge.cache.memory import MemoryCache
from bridge.config import Settings
from tests.support.api_server import create_key, room_type_with_rooms, running_api

P = "/api/booking-engine"


async def test_every_read_endpoint_answers_from_cache_or_pms(
    settings: Settings, db_url: str, cache: Cache
) -> None:
    key = await create_key(db_url, 1, "read")
    start = date.today() + timedelta(days=3)
    end = start + timedelta(days=30)
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        await conn.execute(
            "INSERT INTO booking_engine_amenities (hotel_id, name, category)"
            " VALUES (1, 'Wi-Fi', 'net')"
        )
        await conn.execute(
            "INSERT INTO booking_engine_hotel_images (hotel_id, url, is_primary)"
            " VALUES (1, 'https://img.example.test/1.jpg', true)"
        )
    async with running_api(settings, cache) as api, api.client(key) as http:
        hotels = (await http.get(f"{P}/hotels")).json()
        assert [h["hotel_id"] for h in hotels["hotels"]] == [1]
        hotel = await http.get(f"{P}/hotels/1")
        assert hotel.status_code == 200 and hotel.json()["name"] == "Demo Hotel 1"

        types = (await http.get(f"{P}/room-types/1")).json()
        assert types["hotel_id"] == 1 and len(types["room_types"]) == 5
        assert all(t["sellable_rooms"] > 0 for t in types["room_types"])

        amenities = (await http.get(f"{P}/amenities/1")).json()
        assert [a["name"] for a in amenities["amenities"]] == ["Wi-Fi"]
        images = (await http.get(f"{P}/hotels/1/images")).json()
        assert [i["url"] for i in images["images"]] == ["https://img.example.test/1.jpg"]

        plans = (await http.get(f"{P}/plans/1")).json()
        assert plans["hotel_id"] == 1
        # The hotel's own plans, then the global plan it sells as it is (the PMS's order).
        assert [(p["plan_key"], p["plan_id"], p["name"]) for p in plans["plans"]] == [
            ("1h1", 1, "Room only"),
            ("2h2", 2, "Bed and breakfast"),
            ("3h", None, "Half board"),
        ]
        plan_id = plans["plans"][0]["plan_id"]
        by_key = await http.get(f"{P}/hotels/1/pricing", params={"plan_key": "3h"})
        assert [p["plan_key"] for p in by_key.json()["plans"]] == ["3h"]
        assert by_key.json()["plans"][0]["nights"] == []  # the seed gives it no rates

        pricing = (await http.get(f"{P}/hotels/1/pricing", params={"plan_id": plan_id})).json()
        assert len(pricing["plans"]) == 1 and len(pricing["plans"][0]["nights"]) == 30
        last = await http.get(f"{P}/hotels/1/pricing", params={"start_date": "9999-12-31"})
        assert last.status_code == 400 and last.json()["error"] == "invalid_range"  # was a 500

        params = {
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            "plan_id": str(plan_id),
        }
        avail = await http.get(f"{P}/availability/1", params=params)
        assert avail.status_code == 200, avail.text
        body = avail.json()
        assert body["stale"] is False and len(body["room_types"]) == 5
        for room_type in body["room_types"]:
            assert len(room_type["nights"]) == 30
            assert all(n["price"] and n["price"] > 0 for n in room_type["nights"])
            assert all(
                n["available"] == n["sellable"] - n["taken"]
                for n in room_type["nights"]
                if n["overbooked"] == 0
            )
        again = (await http.get(f"{P}/availability/1", params=params)).json()
        assert again["room_types"] == body["room_types"]


async def test_other_hotels_data_is_not_found_and_bad_queries_are_400(
    settings: Settings, db_url: str, cache: Cache
) -> None:
    key = await create_key(db_url, 1, "read")
    async with running_api(settings, cache) as api, api.client(key) as http:
        for path in (
            "hotels/2",
            "hotels/2/images",
            "hotels/2/pricing",
            "room-types/2",
            "amenities/2",
            "plans/2",
        ):
            reply = await http.get(f"{P}/{path}")
            assert reply.status_code == 404, path
            assert reply.json()["error"] == "not_found"
        today = date.today()
        other = await http.get(
            f"{P}/availability/2",
            params={
                "start_date": today.isoformat(),
                "end_date": (today + timedelta(1)).isoformat(),
            },
        )
        assert other.status_code == 404
        async with await psycopg.AsyncConnection.connect(db_url) as conn:
            cur = await conn.execute("SELECT min(id) FROM room_types WHERE hotel_id = 2")
            (other_type,) = await cur.fetchone() or (None,)
        assert other_type is not None
        nights = {"start_date": today.isoformat(), "end_date": (today + timedelta(2)).isoformat()}
        for room_type_id in (other_type, 999_999):
            reply = await http.get(
                f"{P}/availability/1", params={**nights, "room_type_id": str(room_type_id)}
            )
            assert reply.status_code == 404, reply.text  # was 200 with no room types
            assert reply.json()["error"] == "not_found"
        own = await http.get(f"{P}/availability/1", params={**nights, "room_type_id": "1"})
        assert own.status_code == 200
        assert [t["room_type_id"] for t in own.json()["room_types"]] == [1]
        bad = [
            {"start_date": today.isoformat()},
            {"start_date": "yesterday", "end_date": today.isoformat()},
            {"start_date": today.isoformat(), "end_date": today.isoformat()},
            {"start_date": today.isoformat(), "end_date": (today + timedelta(91)).isoformat()},
            {
                "start_date": today.isoformat(),
                "end_date": (today + timedelta(2)).isoformat(),
                "colour": "blue",
            },
        ]
        for params in bad:
            reply = await http.get(f"{P}/availability/1", params=params)
            assert reply.status_code == 400, params
            assert set(reply.json()) == {"error", "detail"}


async def test_cache_endpoints_need_admin_and_report_status(
    settings: Settings, db_url: str, cache: Cache
) -> None:
    reader = await create_key(db_url, 1, "book")
    admin = await create_key(db_url, 1, "admin")
    today = date.today()
    async with running_api(settings, cache) as api:
        async with api.client(reader) as http:
            refused = await http.get(f"{P}/cache/status")
            assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
        async with api.client(admin) as http:
            hotels = await http.post(f"{P}/cache/update-hotels", json={})
            assert hotels.status_code == 200 and hotels.json()["status"] == "completed"
            types = await http.post(f"{P}/cache/update-room-types", json={"hotel_id": 1})
            assert types.status_code == 200 and types.json()["hotel_id"] == 1
            refresh = await http.post(
                f"{P}/cache/refresh-availability",
                json={
                    "hotel_id": 1,
                    "start_date": today.isoformat(),
                    "end_date": (today + timedelta(5)).isoformat(),
                },
            )
            assert refresh.status_code == 200 and refresh.json()["entries_written"] == 25
            status = await http.get(f"{P}/cache/status")
            assert status.status_code == 200
            shape = status.json()
            assert set(shape) == {"hotels", "room_types", "availability"}
            assert shape["hotels"]["cache_ttl_minutes"] == 1440
            assert shape["availability"]["cache_ttl_minutes"] == 15
            assert shape["hotels"]["is_active"] is True
            elsewhere = await http.post(f"{P}/cache/update-room-types", json={"hotel_id": 2})
            assert elsewhere.status_code == 404
            unknown = await http.post(f"{P}/cache/update-hotels", json={"hotel": 1})
            assert unknown.status_code == 400
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        cur = await conn.execute(
            "SELECT cache_type, status FROM booking_engine_cache_triggers"
            " WHERE triggered_by LIKE 'api:%%' ORDER BY id"
        )
        assert await cur.fetchall() == [
            ("hotels", "completed"),
            ("room_types", "completed"),
            ("availability", "completed"),
        ]


async def test_catalog_answers_follow_each_manual_cache_update_while_memoized(
    settings: Settings, db_url: str
) -> None:
    """Beside the in-process bridge, answers are memoized under their hotel's version. Under
    the manual policy a captured catalog change writes no cache and moves no version, so an
    update must retire the answers it changed; and an update of one cache must not change the
    other's answers."""
    admin = await create_key(db_url, 1, "admin")
    type_id, _ = await room_type_with_rooms(db_url, 1)
    async with running_api(settings, MemoryCache(), run_bridge=True) as api:
        bridge = api.bridge
        assert bridge is not None
        # Only a new version or an update may retire a memoized answer here, not its age.
        api.ctx.catalog_memo = ResponseMemo("hotel", max_age=3600)
        async with api.client(admin) as http:

            async def read() -> tuple[str, str]:
                hotel = await http.get(f"{P}/hotels/1")
                types = await http.get(f"{P}/room-types/1")
                assert hotel.status_code == 200 and types.status_code == 200
                named = {t["room_type_id"]: t["name"] for t in types.json()["room_types"]}
                return hotel.json()["name"], named[type_id]

            hotel_name, type_name = await read()  # fills the caches from the PMS
            counted = bridge.applied
            async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
                await conn.execute("UPDATE hotels SET name = 'Renamed Hotel' WHERE id = 1")
                await conn.execute(
                    "UPDATE room_types SET name = 'Renamed Type' WHERE id = %s", (type_id,)
                )
            for _ in range(300):  # an upper bound on waiting for capture, not a timing assertion
                if bridge.applied >= counted + 2:
                    break
                await asyncio.sleep(0.1)
            assert bridge.applied >= counted + 2
            # Manual policy: captured, counted as pending, the caches untouched.
            assert await read() == (hotel_name, type_name)

            types = await http.post(f"{P}/cache/update-room-types", json={"hotel_id": 1})
            assert types.status_code == 200 and types.json()["status"] == "completed"
            assert await read() == (hotel_name, "Renamed Type")

            hotels = await http.post(f"{P}/cache/update-hotels", json={"hotel_id": 1})
            assert hotels.status_code == 200 and hotels.json()["status"] == "completed"
            assert await read() == ("Renamed Hotel", "Renamed Type")


async def test_availability_outside_the_kept_window_is_400_not_empty(
    settings: Settings, db_url: str
) -> None:
    """An empty answer for nights the cache does not keep would read as sold out."""
    key = await create_key(db_url, 1, "read")
    last = date.today() + timedelta(days=settings.horizon_days_ahead)
    first = date.today() - timedelta(days=settings.horizon_days_back)
    async with running_api(settings, MemoryCache()) as api, api.client(key) as http:

        async def ask(start: date, end: date) -> tuple[int, object]:
            reply = await http.get(
                f"{P}/availability/1",
                params={"start_date": start.isoformat(), "end_date": end.isoformat()},
            )
            body = reply.json()
            return reply.status_code, body.get("error") or len(body["room_types"])

        inside = await ask(last - timedelta(days=2), last + timedelta(days=1))
        earliest = await ask(first, first + timedelta(days=1))
        past_the_end = await ask(last, last + timedelta(days=2))
        before_the_start = await ask(first - timedelta(days=1), first + timedelta(days=1))
        next_year = await ask(last + timedelta(days=30), last + timedelta(days=32))
    assert inside[0] == earliest[0] == 200 and inside[1] == earliest[1] != 0
    assert past_the_end == before_the_start == next_year == (400, "invalid_range")
