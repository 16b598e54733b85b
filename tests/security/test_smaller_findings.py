"""The review's smaller findings: what the audit log names, bounded ids, a hotel's admin
key confined to its hotel, names without invisible characters, ids in ASCII digits."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import psycopg
import pytest

from bridge.cache.memory import MemoryCache
from bridge.config import Settings
from tests.support.api_server import body, create_key, room_type_with_rooms, running_api

P = "/api/booking-engine"


async def audit_rows(db_url: str, action: str) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        cur = await conn.execute(
            "SELECT hotel_id, entity_id, request_data, response_data->>'status_code'"
            " FROM booking_engine_audit_log WHERE action = %s ORDER BY id",
            (action,),
        )
        return await cur.fetchall()


async def test_a_reused_refresh_token_is_audited_with_its_hotel_and_key(
    settings: Settings, db_url: str
) -> None:
    key = await create_key(db_url, 1, "read")
    key_id = key.split("_")[1]
    async with running_api(settings, MemoryCache()) as api, api.client() as http:
        first = (await http.post(f"{P}/auth/token", json={"api_key": key})).json()
        refresh = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
        assert (await http.post(f"{P}/auth/token", json=refresh)).status_code == 200
        reused = await http.post(f"{P}/auth/token", json=refresh)
        assert reused.status_code == 401
    rows = await audit_rows(db_url, "auth.refresh_reuse")
    assert len(rows) == 1
    hotel_id, entity_id, request, status = rows[0]
    assert (hotel_id, entity_id, request["key_id"], status) == (1, key_id, key_id, "401")


async def test_validate_token_rows_carry_the_key_id(settings: Settings, db_url: str) -> None:
    key = await create_key(db_url, 1, "read")
    key_id = key.split("_")[1]
    async with running_api(settings, MemoryCache()) as api, api.client() as http:
        assert (await http.post(f"{P}/auth/validate-token", json={"token": key})).status_code == 200
    rows = await audit_rows(db_url, "auth.validate")
    assert [(r[0], r[1], r[2]["key_id"]) for r in rows] == [(1, key_id, key_id)]


async def test_a_long_user_id_is_neither_echoed_nor_recorded(
    settings: Settings, db_url: str
) -> None:
    key = await create_key(db_url, 1, "read")
    long_id = "a" * 50_000
    async with running_api(settings, MemoryCache()) as api, api.client(key) as http:
        reply = await http.get(f"{P}/auth/user/{long_id}")
    assert reply.status_code == 404
    assert long_id[:100] not in reply.text and len(reply.content) < 1000
    rows = await audit_rows(db_url, "auth.user")
    assert len(rows) == 1 and rows[0][1] is None
    assert long_id[:100] not in str(rows[0])


async def test_an_admin_key_reloads_only_its_own_hotel(settings: Settings, db_url: str) -> None:
    admin = await create_key(db_url, 1, "admin")
    async with running_api(settings, MemoryCache()) as api, api.client(admin) as http:
        hotels = await http.post(f"{P}/cache/update-hotels", json={})
        types = await http.post(f"{P}/cache/update-room-types", json={})
        other = await http.post(f"{P}/cache/update-hotels", json={"hotel_id": 2})
    assert hotels.status_code == 200 and hotels.json()["hotel_id"] == 1
    assert types.status_code == 200 and types.json()["hotel_id"] == 1
    assert other.status_code == 404
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        cur = await conn.execute(
            "SELECT DISTINCT hotel_id FROM booking_engine_cache_triggers"
            " WHERE triggered_by LIKE 'api:%%'"
        )
        assert await cur.fetchall() == [(1,)]


@pytest.mark.parametrize(
    "name",
    [
        "Ada \u202eecalevoL",  # right-to-left override
        "Ada\u200bLovelace",  # zero-width space
        "Ada\u200dLovelace",  # zero-width joiner
        "\u2066Ada\u2069",  # isolates
        "\ufeffAda",  # byte-order mark
        "Ada\u2060Lovelace",  # word joiner
    ],
)
async def test_names_with_invisible_characters_are_refused(
    settings: Settings, db_url: str, name: str
) -> None:
    key = await create_key(db_url, 1, "book")
    type_id, _ = await room_type_with_rooms(db_url, 1)
    payload = body(type_id, date.today() + timedelta(days=40))
    payload["guest"]["name"] = name
    async with running_api(settings, MemoryCache()) as api, api.client(key) as http:
        reply = await http.post(f"{P}/bookings", json=payload)
    assert reply.status_code == 400, reply.text
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        cur = await conn.execute("SELECT count(*) FROM clients WHERE name LIKE '%%Ada%%'")
        assert await cur.fetchone() == (0,)


@pytest.mark.parametrize("hotel", ["\u0661", "\uff11", "+1", "%201", "1%20"])
async def test_path_ids_are_ascii_digits_only(settings: Settings, db_url: str, hotel: str) -> None:
    key = await create_key(db_url, 1, "read")
    async with running_api(settings, MemoryCache()) as api, api.client(key) as http:
        assert (await http.get(f"{P}/hotels/1")).status_code == 200
        reply = await http.get(f"{P}/hotels/{hotel}")
        assert reply.status_code in (400, 404), reply.text
        assert reply.json()["error"] in ("not_found", "validation_failed", "bad_request")
