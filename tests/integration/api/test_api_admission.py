"""Who is calling is settled before what they send: credentials, scope and rate limit before
the body or the query is read; bodies that are not UTF-8, and query strings a route does not
take, are 400; a 503 keeps its Retry-After beside the rate-limit headers."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from bridge.cache.memory import MemoryCache
from bridge.config import Settings
from tests.support.api_server import body, create_key, room_type_with_rooms, running_api

P = "/api/booking-engine"
JSON = {"Content-Type": "application/json"}


async def test_credentials_scope_and_rate_limit_come_before_the_body(
    settings: Settings, db_url: str
) -> None:
    reader, booker = await create_key(db_url, 1, "read"), await create_key(db_url, 1, "book")
    limits = "read=100:100,book=0.01:2,admin=100:100,auth=0.01:2"
    async with running_api(settings, MemoryCache(), rate_limits=limits) as api:
        async with api.client() as anonymous:
            nobody = await anonymous.post(f"{P}/bookings", json={})
            assert nobody.status_code == 401
            assert nobody.headers["www-authenticate"].startswith("Bearer")
            # The token endpoint is limited per address before its body is read, too.
            bodies = [b'{"api_key": 1}', b'{"api_key": "\xff"}', b"{}"]
            codes = [
                (await anonymous.post(f"{P}/auth/token", content=raw, headers=JSON)).status_code
                for raw in bodies
            ]
            assert codes == [400, 400, 429]
        async with api.client(reader) as http:
            assert (await http.post(f"{P}/bookings", json={})).status_code == 403
        async with api.client(booker) as http:
            codes = [(await http.post(f"{P}/bookings", json={})).status_code for _ in range(3)]
            assert codes == [400, 400, 429]
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        cur = await conn.execute(
            "SELECT hotel_id, request_data ? 'key_id' FROM booking_engine_audit_log"
            " WHERE response_data->>'status_code' = '400' AND action LIKE 'POST %%/bookings'"
        )
        rejected_bodies = await cur.fetchall()
    # The caller is known when the body is refused, so its row says whose call it was.
    assert rejected_bodies == [(1, True), (1, True)]


async def test_a_body_that_is_not_utf8_is_400(settings: Settings, db_url: str) -> None:
    key = await create_key(db_url, 1, "book")
    type_id, _ = await room_type_with_rooms(db_url, 1)
    check_in = date.today() + timedelta(days=150)
    async with running_api(settings, MemoryCache()) as api, api.client(key) as http:
        token = await http.post(f"{P}/auth/token", content=b'{"api_key":"\xff"}', headers=JSON)
        # A name with a lone UTF-8 lead byte: valid JSON syntax, not valid text.
        marked = json.dumps(body(type_id, check_in, 1, guest={"name": "Gu?est"})).encode()
        broken_name = marked.replace(b"Gu?est", b"Gu\xc3est")
        booking = await http.post(f"{P}/bookings", content=broken_name, headers=JSON)
        made = await http.post(f"{P}/bookings", json=body(type_id, check_in, 1))
        assert made.status_code == 201
        booking_id = made.json()["booking_id"]
        change = await http.put(
            f"{P}/bookings/{booking_id}", content=b'{"comment":"\xc3"}', headers=JSON
        )
        kept = await http.get(f"{P}/bookings/{booking_id}")
    for reply in (token, booking, change):
        assert reply.status_code == 400, reply.text
        assert reply.json()["error"] == "bad_request"
        assert "UTF-8" in reply.json()["detail"]
    assert kept.json()["comment"] is None


async def test_query_parameters_a_route_does_not_take_or_repeats_are_400(
    settings: Settings, db_url: str
) -> None:
    key = await create_key(db_url, 1, "read")
    start = date.today() + timedelta(days=10)
    window = {"start_date": start.isoformat(), "end_date": (start + timedelta(days=2)).isoformat()}
    async with running_api(settings, MemoryCache()) as api, api.client(key) as http:
        refused = [
            await http.get(f"{P}/{path}", params={"x": "1"})
            for path in (
                "hotels",
                "hotels/1",
                "hotels/1/images",
                "room-types/1",
                "amenities/1",
                f"bookings/{uuid.uuid4()}",
            )
        ]
        refused.append(await http.get(f"{P}/plans/1", params={"hotel_id": "2"}))
        refused.append(
            await http.get(
                f"{P}/availability/1",
                params=[*window.items(), ("room_type_id", "1"), ("room_type_id", "2")],
            )
        )
        plain = await http.get(f"{P}/availability/1", params=window)
        hotel = await http.get(f"{P}/hotels/1")
    assert [r.status_code for r in refused] == [400] * 8
    assert all(r.json()["error"] == "validation_failed" for r in refused)
    assert "room_type_id given more than once" in refused[-1].json()["detail"]
    assert plain.status_code == hotel.status_code == 200


async def test_a_503_keeps_its_retry_after_beside_the_rate_limit_headers(
    settings: Settings, db_url: str
) -> None:
    key = await create_key(db_url, 1, "book")
    async with running_api(settings, MemoryCache()) as api, api.client(key) as http:
        assert (await http.get(f"{P}/hotels/1")).status_code == 200  # the key is cached now
        closed: AsyncConnectionPool[Any] = AsyncConnectionPool(db_url, open=False)
        api.ctx.booking_pool = closed
        reply = await http.get(f"{P}/bookings/{uuid.uuid4()}")
    assert reply.status_code == 503
    assert reply.json()["error"] == "unavailable"
    assert reply.headers["retry-after"] == "5"
    assert "ratelimit-remaining" in reply.headers
