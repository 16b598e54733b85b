"""The booking service's refusals answered at the API's edge: each with its status, its error
code and its detail, and nothing written."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from bridge.cache.memory import MemoryCache
from bridge.config import Settings
from tests.support.api_server import body, create_key, room_type_with_rooms, running_api

P = "/api/booking-engine/bookings"
FAR = date.today() + timedelta(days=220)


async def test_an_unknown_booking_is_not_found_to_read_change_or_cancel(
    settings: Settings, db_url: str
) -> None:
    key = await create_key(db_url, 1)
    unknown = uuid.uuid4()
    async with running_api(settings, MemoryCache()) as api, api.client(key) as http:
        replies = [
            await http.get(f"{P}/{unknown}"),
            await http.put(f"{P}/{unknown}", json={"guests": 2}),
            await http.delete(f"{P}/{unknown}"),
        ]
    expected = {"error": "not_found", "detail": f"booking {unknown} not found"}
    assert [(r.status_code, r.json()) for r in replies] == [(404, expected)] * 3


async def test_a_cancelled_booking_is_not_changed_and_cancelling_again_answers_it_as_is(
    settings: Settings, db_url: str
) -> None:
    key = await create_key(db_url, 1)
    type_id, _ = await room_type_with_rooms(db_url, 1)
    async with running_api(settings, MemoryCache()) as api, api.client(key) as http:
        created = await http.post(P, json=body(type_id, FAR, 2))
        assert created.status_code == 201, created.text
        url = f"{P}/{created.json()['booking_id']}"
        cancelled = await http.delete(url)
        changed = await http.put(url, json={"guests": 2})
        again = await http.delete(url)
        read = await http.get(url)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert all(n["cancelled"] and not n["billable"] for n in cancelled.json()["nights"])
    assert (changed.status_code, changed.json()) == (
        409,
        {"error": "booking_cancelled", "detail": "a cancelled booking cannot be changed"},
    )
    assert again.status_code == 200 and again.json() == cancelled.json() == read.json()
