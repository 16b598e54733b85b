"""Bookings through the API: PMS rows written, no overbooking under concurrency, idempotency."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import psycopg
import pytest

from api.bookings import request_hash
from api.schemas import BookingCreate
from bridge.cache.memory import MemoryCache
from bridge.config import Settings
from bridge.sql import query
from tests.support.api_server import (
    body,
    create_key,
    fill_all_but,
    room_type_with_rooms,
    running_api,
)

FAR = date.today() + timedelta(days=200)


async def fetch(db_url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        cur = await conn.execute(sql, args)  # type: ignore[arg-type]
        return await cur.fetchall()


async def free_in_pms(db_url: str, check_in: date, check_out: date) -> list[dict[str, Any]]:
    """What a 409 must say is left in hotel 1, counted here room by room: a sellable room is
    free on a night unless a live night row of a live reservation holds it."""
    rows = await fetch(
        db_url,
        "SELECT c.room_type_id, g::date, count(*) FILTER (WHERE NOT EXISTS ("
        "   SELECT 1 FROM reservation_details d JOIN reservations r"
        "     ON r.hotel_id = d.hotel_id AND r.id = d.reservation_id"
        "   WHERE d.hotel_id = c.hotel_id AND d.room_id = c.id AND d.date = g::date"
        "     AND d.cancelled IS NULL AND r.status <> 'cancelled'))"
        " FROM rooms c CROSS JOIN generate_series(%s::date, %s::date - 1, '1 day') AS g"
        " WHERE c.hotel_id = 1 AND c.for_sale AND NOT c.is_staff_room"
        " GROUP BY 1, 2 ORDER BY 1, 2",
        check_in,
        check_out,
    )
    by_type: dict[int, list[dict[str, Any]]] = {}
    for type_id, night, free in rows:
        by_type.setdefault(type_id, []).append({"date": night.isoformat(), "available": free})
    return [
        {"room_type_id": t, "nights": n, "free_every_night": all(x["available"] for x in n)}
        for t, n in sorted(by_type.items())
    ]


async def test_create_writes_pms_rows_and_echo_mark(settings: Settings, db_url: str) -> None:
    key = await create_key(db_url, 1)
    type_id, _ = await room_type_with_rooms(db_url, 1)
    async with running_api(settings, MemoryCache()) as api, api.client(key) as http:
        created = await http.post(
            "/api/booking-engine/bookings",
            json=body(type_id, FAR, 3, booking_engine_id="be-123", plan_id=None),
        )
        assert created.status_code == 201, created.text
        booking = created.json()
        booking_id = booking["booking_id"]
        assert booking["type"] == "web" and booking["status"] == "confirmed"
        assert [n["date"] for n in booking["nights"]] == [
            (FAR + timedelta(days=i)).isoformat() for i in range(3)
        ]
        assert len({n["room_id"] for n in booking["nights"]}) == 1  # one room for the stay
        assert all(n["price"] > 0 for n in booking["nights"])
        assert booking["sync"]["booking_engine_id"] == "be-123"
        assert booking["sync"]["sync_status"] == "synced"

        again = await http.get(f"/api/booking-engine/bookings/{booking_id}")
        assert again.status_code == 200 and again.json() == booking

    rows = await fetch(
        db_url,
        "SELECT r.type, r.status, c.name, count(d.id) FROM reservations r"
        " JOIN clients c ON c.id = r.reservation_client_id"
        " JOIN reservation_details d ON d.hotel_id = r.hotel_id AND d.reservation_id = r.id"
        " WHERE r.id = %s GROUP BY r.type, r.status, c.name",
        uuid.UUID(booking_id),
    )
    assert rows == [("web", "confirmed", "Ada Lovelace", 3)]
    sync = await fetch(
        db_url,
        "SELECT origin, sync_status, booking_engine_id, origin_xid IS NOT NULL"
        " FROM booking_sync_status WHERE booking_id = %s",
        uuid.UUID(booking_id),
    )
    assert sync == [("booking_engine", "synced", "be-123", True)]


async def test_last_room_goes_once_then_409_says_what_is_left(
    settings: Settings, db_url: str
) -> None:
    key = await create_key(db_url, 1)
    type_id, _ = await room_type_with_rooms(db_url, 1)
    check_in = date.today() + timedelta(days=100)
    await fill_all_but(db_url, 1, type_id, [check_in, check_in + timedelta(days=1)], keep=1)
    async with running_api(settings, MemoryCache()) as api, api.client(key) as http:
        first = await http.post("/api/booking-engine/bookings", json=body(type_id, check_in))
        second = await http.post("/api/booking-engine/bookings", json=body(type_id, check_in))
    assert first.status_code == 201, first.text
    assert second.status_code == 409
    refused = second.json()
    assert refused["error"] == "not_available"
    assert [n["available"] for n in refused["detail"]["nights"]] == [0, 0]
    others = [t for t in refused["detail"]["still_available"] if t["room_type_id"] != type_id]
    assert others and all(t["free_every_night"] for t in others)
    left = await free_in_pms(db_url, check_in, check_in + timedelta(days=2))
    assert refused["detail"]["still_available"] == left


async def test_hundred_concurrent_requests_for_one_room_book_it_once(
    settings: Settings, db_url: str
) -> None:
    key = await create_key(db_url, 1)
    type_id, _ = await room_type_with_rooms(db_url, 1)
    check_in = date.today() + timedelta(days=120)
    await fill_all_but(db_url, 1, type_id, [check_in, check_in + timedelta(days=1)], keep=1)
    async with running_api(settings, MemoryCache()) as api:
        limits = {"limits": __import__("httpx").Limits(max_connections=100)}
        async with api.client(key, **limits) as http:
            start = asyncio.Event()

            async def attempt(i: int) -> int:
                await start.wait()
                payload = body(type_id, check_in, guest={"name": f"Guest {i}"})
                return (await http.post("/api/booking-engine/bookings", json=payload)).status_code

            tasks = [asyncio.create_task(attempt(i)) for i in range(100)]
            await asyncio.sleep(0.1)
            start.set()
            codes = Counter(await asyncio.gather(*tasks))
    assert codes == {201: 1, 409: 99}
    booked = await fetch(
        db_url,
        "SELECT d.date, count(*) FROM reservation_details d"
        " JOIN reservations r ON r.hotel_id = d.hotel_id AND r.id = d.reservation_id"
        " JOIN rooms rm ON rm.hotel_id = d.hotel_id AND rm.id = d.room_id"
        " WHERE d.hotel_id = 1 AND rm.room_type_id = %s AND d.date = ANY(%s)"
        " AND d.cancelled IS NULL AND r.status <> 'cancelled' AND rm.for_sale"
        " AND NOT rm.is_staff_room GROUP BY d.date ORDER BY d.date",
        type_id,
        [check_in, check_in + timedelta(days=1)],
    )
    sellable = await fetch(
        db_url,
        "SELECT count(*) FROM rooms WHERE hotel_id = 1 AND room_type_id = %s"
        " AND for_sale AND NOT is_staff_room",
        type_id,
    )
    assert [count for _, count in booked] == [sellable[0][0]] * 2  # full, never over


async def _wait_for_lock_waiter(db_url: str) -> None:
    """Until some backend waits on an advisory lock: an ordering wait, not a timing one."""
    while not await fetch(  # noqa: ASYNC110 (the event is in another process: poll it)
        db_url,
        "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        " AND wait_event = 'advisory' AND datname = current_database()",
    ):
        await asyncio.sleep(0.02)


async def _hold_night(conn: psycopg.AsyncConnection[Any], type_id: int, night: date) -> None:
    """Takes the booking lock of one night of hotel 1's room type, as a booking write does."""
    await conn.execute(
        query("api_booking_lock"),
        {
            "hotel_id": 1,
            "room_type_id": type_id,
            "check_in": night,
            "check_out": night + timedelta(days=1),
        },
    )


async def _booked_after(
    db_url: str, http: Any, holder: psycopg.AsyncConnection[Any], payload: dict[str, Any]
) -> Any:
    """The reply to a booking sent while `holder` holds a lock it needs: the booking must wait
    on an advisory lock until the holder's transaction ends (rolled back here)."""
    reply = asyncio.create_task(http.post("/api/booking-engine/bookings", json=payload))
    # A stall guard, not a speed: the booking must wait, however long that takes.
    await asyncio.wait_for(_wait_for_lock_waiter(db_url), timeout=60)
    assert not reply.done()
    await holder.rollback()
    return await reply


@pytest.mark.parametrize("left", [1, 2])
async def test_a_booking_waiting_on_the_lock_sees_the_room_taken_meanwhile(
    settings: Settings, db_url: str, left: int
) -> None:
    """Rooms are chosen under the lock of each night of the stay: a booking that waits while
    a rival holds it and takes the room it would have chosen gets another room when one is
    left (201), else 409, and writes nothing then."""
    key = await create_key(db_url, 1)
    type_id, _ = await room_type_with_rooms(db_url, 1)
    night = date.today() + timedelta(days=130)
    await fill_all_but(db_url, 1, type_id, [night], keep=left)
    async with running_api(settings, MemoryCache()) as api, api.client(key) as http:
        async with await psycopg.AsyncConnection.connect(db_url) as rival:
            await _hold_night(rival, type_id, night)
            cur = await rival.execute(
                "SELECT r.id FROM rooms r WHERE r.hotel_id = 1 AND r.room_type_id = %s"
                " AND r.for_sale AND NOT r.is_staff_room AND NOT EXISTS ("
                "  SELECT 1 FROM reservation_details d JOIN reservations res"
                "    ON res.hotel_id = d.hotel_id AND res.id = d.reservation_id"
                "  WHERE d.hotel_id = 1 AND d.room_id = r.id AND d.date = %s"
                "    AND d.cancelled IS NULL AND res.status <> 'cancelled')"
                " ORDER BY r.assignment_priority NULLS LAST, r.id",
                (type_id, night),
            )
            free = [row[0] for row in await cur.fetchall()]
            assert len(free) == left
            request = asyncio.create_task(
                http.post("/api/booking-engine/bookings", json=body(type_id, night, nights=1))
            )
            await _wait_for_lock_waiter(db_url)
            rival_id = uuid.uuid4()
            await rival.execute(
                "INSERT INTO reservations (id, hotel_id, reservation_client_id, check_in,"
                " check_out, number_of_people, status, type)"
                " SELECT %s, 1, id, %s, %s, 1, 'confirmed', 'default'"
                " FROM clients LIMIT 1",
                (rival_id, night, night + timedelta(days=1)),
            )
            await rival.execute(
                "INSERT INTO reservation_details (hotel_id, reservation_id, date, room_id,"
                " number_of_people) VALUES (1, %s, %s, %s, 1)",
                (rival_id, night, free[0]),
            )
            await rival.commit()
        reply = await request
    taken = await fetch(
        db_url,
        "SELECT d.room_id, r.type FROM reservation_details d"
        " JOIN reservations r ON r.hotel_id = d.hotel_id AND r.id = d.reservation_id"
        " WHERE d.hotel_id = 1 AND d.date = %s AND d.room_id = ANY(%s)"
        " AND d.cancelled IS NULL AND r.status <> 'cancelled' ORDER BY d.room_id",
        night,
        free,
    )
    if left == 1:
        assert reply.status_code == 409, reply.text
        assert taken == [(free[0], "default")]
    else:
        assert reply.status_code == 201, reply.text
        assert [n["room_id"] for n in reply.json()["nights"]] == [free[1]]
        assert sorted(taken) == sorted([(free[0], "default"), (free[1], "web")])
    guests = await fetch(db_url, "SELECT count(*) FROM clients WHERE name = 'Ada Lovelace'")
    assert guests == [(left - 1,)]  # a refused booking leaves no guest row behind


async def test_the_lock_is_per_night_so_only_overlapping_stays_wait(
    settings: Settings, db_url: str
) -> None:
    """While a rival holds the lock of one night of a room type, a stay of other nights is
    booked at once, and a stay over that night waits for the rival to finish."""
    key = await create_key(db_url, 1)
    type_id, _ = await room_type_with_rooms(db_url, 1)
    night = FAR + timedelta(days=40)
    async with running_api(settings, MemoryCache()) as api, api.client(key) as http:
        async with await psycopg.AsyncConnection.connect(db_url) as rival:
            await _hold_night(rival, type_id, night)
            apart = await asyncio.wait_for(
                http.post(
                    "/api/booking-engine/bookings",
                    json=body(type_id, night + timedelta(days=1), nights=2),
                ),
                timeout=60,  # a stall, not a speed: without per-night locks it never ends
            )
            assert apart.status_code == 201, apart.text
            over = await _booked_after(
                db_url, http, rival, body(type_id, night - timedelta(days=1), nights=2)
            )
        assert over.status_code == 201, over.text


async def test_a_writer_of_the_previous_lock_scheme_is_waited_for(
    settings: Settings, db_url: str
) -> None:
    """During a rolling upgrade an older API process locks the whole (hotel, room type): a
    booking of this version waits for it."""
    key = await create_key(db_url, 1)
    type_id, _ = await room_type_with_rooms(db_url, 1)
    async with running_api(settings, MemoryCache()) as api, api.client(key) as http:
        async with await psycopg.AsyncConnection.connect(db_url) as older:
            await older.execute(
                "SELECT pg_advisory_xact_lock((%s::bigint << 32) | %s::bigint)", (1, type_id)
            )
            waited = await _booked_after(
                db_url, http, older, body(type_id, FAR + timedelta(days=60), nights=1)
            )
        assert waited.status_code == 201, waited.text


async def test_bookings_run_read_committed_whatever_the_database_default(
    settings: Settings, db_url: str
) -> None:
    """At REPEATABLE READ the room choice would read a snapshot from before the lock wait:
    the booking connections set READ COMMITTED, and the lock refuses any other level."""
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as admin:
        name = db_url.rsplit("/", 1)[1]
        await admin.execute(
            f"ALTER DATABASE \"{name}\" SET default_transaction_isolation = 'repeatable read'"
        )
    key = await create_key(db_url, 1)
    type_id, _ = await room_type_with_rooms(db_url, 1)
    async with running_api(settings, MemoryCache()) as api, api.client(key) as http:
        created = await http.post(
            "/api/booking-engine/bookings", json=body(type_id, FAR + timedelta(days=70))
        )
        assert created.status_code == 201, created.text
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        with pytest.raises(psycopg.errors.RaiseException, match="READ COMMITTED"):
            await _hold_night(conn, type_id, FAR)


async def test_idempotency_key_replays_and_rejects_another_body(
    settings: Settings, db_url: str
) -> None:
    key = await create_key(db_url, 1)
    type_id, _ = await room_type_with_rooms(db_url, 1)
    async with running_api(settings, MemoryCache()) as api, api.client(key) as http:
        headers = {"Idempotency-Key": "order-42"}
        payload = body(type_id, FAR + timedelta(days=10))
        replies = await asyncio.gather(
            *[
                http.post("/api/booking-engine/bookings", json=payload, headers=headers)
                for _ in range(5)
            ]
        )
        assert {r.status_code for r in replies} == {201}
        assert len({r.json()["booking_id"] for r in replies}) == 1
        later = await http.post("/api/booking-engine/bookings", json=payload, headers=headers)
        assert later.status_code == 201 and later.json() == replies[0].json()
        other = await http.post(
            "/api/booking-engine/bookings",
            json={**payload, "guests": 2},
            headers=headers,
        )
        assert other.status_code == 422
        assert other.json()["error"] == "idempotency_key_reused"
    count = await fetch(
        db_url,
        "SELECT count(*) FROM reservations WHERE hotel_id = 1 AND type = 'web' AND check_in = %s",
        FAR + timedelta(days=10),
    )
    assert count == [(1,)]


async def test_an_answer_stored_by_an_earlier_version_is_replayed_as_the_booking_now(
    settings: Settings, db_url: str
) -> None:
    """A key claimed before an upgrade kept an answer without the fields a booking has now
    (prepaid, amounts, the kanji name): its retry gets the booking read again, not a 500."""
    key = await create_key(db_url, 1)
    type_id, _ = await room_type_with_rooms(db_url, 1)
    async with running_api(settings, MemoryCache()) as api, api.client(key) as http:
        headers = {"Idempotency-Key": "order-before-upgrade"}
        payload = body(type_id, FAR + timedelta(days=12))
        first = await http.post("/api/booking-engine/bookings", json=payload, headers=headers)
        assert first.status_code == 201, first.text
        await fetch(
            db_url,
            "UPDATE pms_bridge.api_idempotency SET response = response - 'prepaid'"
            " WHERE idempotency_key = %s RETURNING 1",
            "order-before-upgrade",
        )
        retry = await http.post("/api/booking-engine/bookings", json=payload, headers=headers)
    assert retry.status_code == 201, retry.text
    assert retry.json()["booking_id"] == first.json()["booking_id"]
    assert retry.json()["prepaid"] == 0 and retry.json()["total_price"] > 0


async def test_a_retry_after_the_stay_began_still_gets_its_booking(
    settings: Settings, db_url: str
) -> None:
    """The first attempt was made while its check-in was ahead; the retry comes once it has
    passed. Stood in for by giving the key's claim the hash of a body whose stay began
    yesterday, as the first attempt's would be by then."""
    key = await create_key(db_url, 1)
    type_id, _ = await room_type_with_rooms(db_url, 1)
    began = body(type_id, date.today() - timedelta(days=1))
    began_hash = request_hash(
        msgspec.json.encode(msgspec.json.decode(json.dumps(began), type=BookingCreate))
    )
    async with running_api(settings, MemoryCache()) as api, api.client(key) as http:
        headers = {"Idempotency-Key": "order-before-arrival"}
        first = await http.post(
            "/api/booking-engine/bookings", json=body(type_id, FAR), headers=headers
        )
        assert first.status_code == 201, first.text
        await fetch(
            db_url,
            "UPDATE pms_bridge.api_idempotency SET request_hash = %s"
            " WHERE idempotency_key = 'order-before-arrival' RETURNING 1",
            began_hash,
        )
        retry = await http.post("/api/booking-engine/bookings", json=began, headers=headers)
        assert retry.status_code == 201, retry.text
        assert retry.json() == first.json()
        fresh = await http.post(
            "/api/booking-engine/bookings", json=began, headers={"Idempotency-Key": "new-one"}
        )
        assert fresh.status_code == 422 and fresh.json()["error"] == "invalid_stay"
        other = await http.post(
            "/api/booking-engine/bookings", json={**began, "guests": 2}, headers=headers
        )
        assert other.status_code == 422 and other.json()["error"] == "idempotency_key_reused"
        unkeyed = await http.post("/api/booking-engine/bookings", json=began)
        assert unkeyed.status_code == 422 and unkeyed.json()["error"] == "invalid_stay"


async def test_retries_racing_for_the_last_room_all_get_the_one_booking(
    settings: Settings, db_url: str
) -> None:
    """The key is claimed after the rooms are chosen: a retry that waited while its first
    attempt took the last room finds no room, but answers with that booking, not 409."""
    key = await create_key(db_url, 1)
    type_id, _ = await room_type_with_rooms(db_url, 1)
    night = FAR + timedelta(days=20)
    await fill_all_but(db_url, 1, type_id, [night], keep=1)
    async with running_api(settings, MemoryCache()) as api, api.client(key) as http:
        headers = {"Idempotency-Key": "last-room-7"}
        payload = body(type_id, night, nights=1)
        replies = await asyncio.gather(
            *[
                http.post("/api/booking-engine/bookings", json=payload, headers=headers)
                for _ in range(8)
            ]
        )
        other = await http.post("/api/booking-engine/bookings", json=payload)
    assert [r.status_code for r in replies] == [201] * 8, [r.text for r in replies]
    assert len({r.text for r in replies}) == 1
    assert other.status_code == 409  # the room is gone for a request of its own
    stored = await fetch(
        db_url,
        "SELECT count(*), count(response) FROM pms_bridge.api_idempotency"
        " WHERE idempotency_key = 'last-room-7'",
    )
    assert stored == [(1, 1)]


async def test_invalid_bookings_are_refused_with_reasons(settings: Settings, db_url: str) -> None:
    key = await create_key(db_url, 1)
    type_id, _ = await room_type_with_rooms(db_url, 1)
    today = date.today()
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({**body(type_id, FAR), "surprise": 1}, 400, "validation_failed"),
        ({**body(type_id, FAR), "guests": 0}, 400, "validation_failed"),
        ({**body(type_id, FAR), "guest": {"name": ""}}, 400, "validation_failed"),
        ({**body(type_id, FAR), "guest": {"name": "x" * 201}}, 400, "validation_failed"),
        ({**body(type_id, FAR), "check_out": FAR.isoformat()}, 422, "invalid_stay"),
        (body(type_id, FAR, 31), 422, "invalid_stay"),
        (body(type_id, today - timedelta(days=1), 1), 422, "invalid_stay"),
        (body(type_id, today + timedelta(days=366), 1), 422, "invalid_stay"),
        ({**body(type_id, FAR), "guests": 40}, 422, "over_capacity"),
        ({**body(type_id, FAR), "room_type_id": 99999}, 404, "not_found"),
        ({**body(type_id, FAR), "plan_id": 99999}, 422, "unknown_plan"),
        ({**body(type_id, FAR), "hotel_id": 2}, 404, "not_found"),
        # Types as declared, not coerced; text without control characters (NUL was a 500).
        ({**body(type_id, FAR), "guests": "1"}, 400, "validation_failed"),
        ({**body(type_id, FAR), "guests": 1.0}, 400, "validation_failed"),
        ({**body(type_id, FAR), "hotel_id": "1"}, 400, "validation_failed"),
        ({**body(type_id, FAR), "guest": {"name": "a\u0000b"}}, 400, "validation_failed"),
        ({**body(type_id, FAR), "guest": {"name": "   "}}, 400, "validation_failed"),
        ({**body(type_id, FAR), "guest": {"name": "a\nb"}}, 400, "validation_failed"),
        ({**body(type_id, FAR), "guest": {"name": "Ada\n"}}, 400, "validation_failed"),
        ({**body(type_id, FAR), "booking_engine_id": "ext-1\n"}, 400, "validation_failed"),
        (
            {**body(type_id, FAR), "guest": {"name": "x", "email": "a\u0000@b"}},
            400,
            "validation_failed",
        ),
        ({**body(type_id, FAR), "comment": "a\u0000"}, 400, "validation_failed"),
        ({**body(type_id, FAR), "booking_engine_id": "be\u0001"}, 400, "validation_failed"),
    ]
    json_type = {"Content-Type": "application/json"}
    raw_cases: list[tuple[bytes, dict[str, str], int, str]] = [
        (b"[" * 1000 + b"]" * 1000, json_type, 400, "validation_failed"),  # was a 500
        (b"", json_type, 400, "bad_request"),
        (b"{nope", json_type, 400, "bad_request"),
        (
            json.dumps(body(type_id, FAR)).encode(),
            {"Content-Type": "application/x-www-form-urlencoded"},
            415,
            "unsupported_media_type",
        ),
    ]
    async with running_api(settings, MemoryCache()) as api, api.client(key) as http:
        for payload, status, error in cases:
            reply = await http.post("/api/booking-engine/bookings", json=payload)
            assert (reply.status_code, reply.json()["error"]) == (status, error), payload
            assert set(reply.json()) == {"error", "detail"}
        for content, headers, status, error in raw_cases:
            reply = await http.post(
                "/api/booking-engine/bookings", content=content, headers=headers
            )
            assert (reply.status_code, reply.json()["error"]) == (status, error), content[:20]
        empty = await http.post("/api/booking-engine/auth/token", headers=json_type)
        assert empty.json() == {"error": "bad_request", "detail": "this call needs a JSON body"}
        huge = await http.post(
            "/api/booking-engine/bookings",
            content=b'{"comment": "' + b"x" * 100_000 + b'"}',
            headers={"Content-Type": "application/json"},
        )
        assert huge.status_code in (400, 413)
        assert set(huge.json()) == {"error", "detail"}
        missing = await http.get(f"/api/booking-engine/bookings/{uuid.uuid4()}")
        assert missing.status_code == 404
    count = await fetch(
        db_url, "SELECT count(*) FROM reservations WHERE type = 'web' AND check_in >= %s", FAR
    )
    assert count == [(0,)]


async def test_stays_are_judged_by_each_hotels_own_date(settings: Settings, db_url: str) -> None:
    """Hotel 1 keeps UTC+14's date and hotel 2 UTC-12's: 26 hours apart, so at any instant
    hotel 2's today is already past for hotel 1, whatever the server's own date."""
    zoned = msgspec.structs.replace(
        settings, timezone="Pacific/Kiritimati", hotel_timezones="2=Etc/GMT+12"
    )
    early = datetime.now(ZoneInfo("Etc/GMT+12")).date()
    late = datetime.now(ZoneInfo("Pacific/Kiritimati")).date()
    keys = {hotel: await create_key(db_url, hotel) for hotel in (1, 2)}
    for hotel in (1, 2):
        _, rooms = await room_type_with_rooms(db_url, hotel)
        # The seed's bookings on those nights out of the way: a room must be free.
        await fetch(
            db_url,
            "UPDATE reservation_details SET cancelled = reservation_id WHERE hotel_id = %s"
            " AND date BETWEEN %s AND %s AND room_id = ANY(%s) RETURNING 1",
            hotel,
            early,
            late + timedelta(days=1),
            rooms,
        )
    async with running_api(zoned, MemoryCache()) as api:
        replies = {}
        for hotel, check_in in ((1, early), (2, early), (1, late)):
            type_id, _ = await room_type_with_rooms(db_url, hotel)
            async with api.client(keys[hotel]) as http:
                reply = await http.post(
                    "/api/booking-engine/bookings",
                    json={**body(type_id, check_in, 1), "hotel_id": hotel},
                )
                replies[hotel, check_in] = (reply.status_code, reply.json().get("error"))
        assert replies == {
            (1, early): (422, "invalid_stay"),  # yesterday or before in hotel 1
            (2, early): (201, None),
            (1, late): (201, None),
        }
        for hotel, first in ((1, late), (2, early)):
            async with api.client(keys[hotel]) as http:
                pricing = (await http.get(f"/api/booking-engine/hotels/{hotel}/pricing")).json()
                # The hotel's last night a year ahead is priced, though for hotel 1 (ahead
                # of the server) it can lie past the server's own year.
                last = first + timedelta(days=366)
                far = await http.get(
                    f"/api/booking-engine/hotels/{hotel}/pricing",
                    params={
                        "start_date": last.isoformat(),
                        "end_date": (last + timedelta(days=1)).isoformat(),
                    },
                )
            assert pricing["plans"][0]["nights"][0]["date"] == first.isoformat()
            nights = far.json()["plans"][0]["nights"]
            assert nights[0]["date"] == last.isoformat() and nights[0]["price"] is not None


async def shift_into_the_past(db_url: str, booking_id: str, first_night: date) -> None:
    """Stands in for time passing: the booking (made for FAR) now begins on first_night."""
    days = (FAR - first_night).days
    await fetch(
        db_url,
        "UPDATE reservations SET check_in = check_in - %s, check_out = check_out - %s"
        " WHERE id = %s RETURNING 1",
        days,
        days,
        booking_id,
    )
    await fetch(
        db_url,
        "UPDATE reservation_details SET date = date - %s, price = 111"
        " WHERE reservation_id = %s RETURNING 1",
        days,
        booking_id,
    )


async def test_a_stay_under_way_is_not_cancelled_nor_moved_to_another_room(
    settings: Settings, db_url: str
) -> None:
    """The guest arrived two days ago and leaves today. Cancelling would unbill the nights
    spent: refused. Staying tonight while another guest has the room tonight would move them:
    refused, though other rooms are free."""
    key = await create_key(db_url, 1)
    type_id, rooms = await room_type_with_rooms(db_url, 1)
    today = date.today()
    day = timedelta(days=1)
    nights_sql = (
        "SELECT date, room_id, billable, cancelled IS NULL FROM reservation_details"
        " WHERE reservation_id = %s ORDER BY date"
    )
    async with running_api(settings, MemoryCache()) as api, api.client(key) as http:
        created = await http.post("/api/booking-engine/bookings", json=body(type_id, FAR, 2))
        assert created.status_code == 201, created.text
        booking_id = created.json()["booking_id"]
        await shift_into_the_past(db_url, booking_id, today - 2 * day)
        spent = await fetch(db_url, nights_sql, booking_id)
        room = spent[-1][1]
        await block_rooms(db_url, [room], [today])
        url = f"/api/booking-engine/bookings/{booking_id}"

        cancelled = await http.delete(url, params={"fee_nights": 1})
        staying = await http.put(url, json={"check_out": (today + day).isoformat()})

    assert (cancelled.status_code, cancelled.json()["error"]) == (422, "invalid_stay")
    assert (staying.status_code, staying.json()["error"]) == (409, "not_available")
    assert any(r != room for r in rooms)
    assert await fetch(db_url, nights_sql, booking_id) == spent
    assert all(billable and live for _, _, billable, live in spent)


async def test_a_stay_under_way_can_be_extended_and_shortened_but_not_rewritten(
    settings: Settings, db_url: str
) -> None:
    """The guest arrived two days ago: the stay's end can move (the front desk's most common
    change), its check-in cannot, the nights already spent stay as they were billed, and the
    guest keeps the room they are in."""
    key = await create_key(db_url, 1)
    type_id, rooms = await room_type_with_rooms(db_url, 1)
    today = date.today()
    day = timedelta(days=1)
    # The seed's bookings around today out of the way, so that only this test's count.
    await fetch(
        db_url,
        "UPDATE reservation_details SET cancelled = reservation_id WHERE hotel_id = 1"
        " AND date BETWEEN %s AND %s AND room_id = ANY(%s) RETURNING 1",
        today - 6 * day,
        today + 6 * day,
        rooms,
    )
    nights_sql = (
        "SELECT date, room_id, price::float FROM reservation_details"
        " WHERE reservation_id = %s AND cancelled IS NULL ORDER BY date"
    )
    async with running_api(settings, MemoryCache()) as api, api.client(key) as http:
        created = await http.post("/api/booking-engine/bookings", json=body(type_id, FAR, 3))
        assert created.status_code == 201, created.text
        booking_id = created.json()["booking_id"]
        await shift_into_the_past(db_url, booking_id, today - 2 * day)
        before = await fetch(db_url, nights_sql, booking_id)
        room = before[2][1]  # the guest's room, last night and tonight
        elsewhere = next(r for r in rooms if r != room)
        # The first night was spent in another room; and from the day after tomorrow another
        # guest has this one.
        await fetch(
            db_url,
            "UPDATE reservation_details SET room_id = %s WHERE reservation_id = %s AND date = %s"
            " RETURNING 1",
            elsewhere,
            booking_id,
            today - 2 * day,
        )
        before = await fetch(db_url, nights_sql, booking_id)
        await fetch(
            db_url,
            "WITH c AS (INSERT INTO clients (name) VALUES ('Next Guest') RETURNING id),"
            " r AS (INSERT INTO reservations (id, hotel_id, reservation_client_id, check_in,"
            "   check_out, number_of_people, status, type)"
            "   SELECT gen_random_uuid(), 1, c.id, %s, %s, 1, 'confirmed', 'web' FROM c"
            "   RETURNING id, check_in)"
            " INSERT INTO reservation_details (hotel_id, reservation_id, date, room_id,"
            "   number_of_people) SELECT 1, r.id, r.check_in, %s, 1 FROM r RETURNING 1",
            today + 2 * day,
            today + 3 * day,
            room,
        )
        url = f"/api/booking-engine/bookings/{booking_id}"

        too_long = await http.put(url, json={"check_out": (today + 3 * day).isoformat()})

        # The guest's room is taken the day after tomorrow: the bridge never moves a guest.
        assert too_long.status_code == 409, too_long.text
        assert too_long.json()["error"] == "not_available"
        assert await fetch(db_url, nights_sql, booking_id) == before
        longer = await http.put(url, json={"check_out": (today + 2 * day).isoformat()})
        assert longer.status_code == 200, longer.text
        after = await fetch(db_url, nights_sql, booking_id)
        assert [n[0] for n in after] == [today + d * day for d in range(-2, 2)]
        assert after[:3] == before[:3]  # the nights spent and tonight: same rooms and prices
        assert after[3][1] == room  # the added night, in the guest's room
        moved_in = await http.put(url, json={"check_in": today.isoformat()})
        assert (moved_in.status_code, moved_in.json()["error"]) == (422, "invalid_stay")
        into_past = await http.put(url, json={"check_out": (today - day).isoformat()})
        assert (into_past.status_code, into_past.json()["error"]) == (422, "invalid_stay")

        leaving = await http.put(url, json={"check_out": today.isoformat()})

        assert leaving.status_code == 200, leaving.text
        assert await fetch(db_url, nights_sql, booking_id) == before[:2]
        assert leaving.json()["check_out"] == today.isoformat()
        crowd = await http.put(url, json={"guests": 50})
        assert (crowd.status_code, crowd.json()["error"]) == (422, "over_capacity")
        staying = await http.put(url, json={"check_out": (today + day).isoformat()})
        assert staying.status_code == 200, staying.text
        tonight = (await fetch(db_url, nights_sql, booking_id))[2]
        assert tonight[:2] == (today, room)  # last night's room, not the first night's

        done = await http.post("/api/booking-engine/bookings", json=body(type_id, FAR, 2))
        assert done.status_code == 201, done.text
        await shift_into_the_past(db_url, done.json()["booking_id"], today - 5 * day)
        reopened = await http.put(
            f"/api/booking-engine/bookings/{done.json()['booking_id']}",
            json={"check_out": (today + day).isoformat()},
        )
        assert (reopened.status_code, reopened.json()["error"]) == (422, "invalid_stay")
        assert "ended" in reopened.json()["detail"]


async def block_rooms(db_url: str, rooms: list[int], nights: list[date]) -> None:
    """Another guest in each room on the matching night."""
    ids = [uuid.uuid4() for _ in rooms]
    await fetch(
        db_url,
        "WITH c AS (INSERT INTO clients (name) VALUES ('Other Guest') RETURNING id),"
        " r AS (INSERT INTO reservations (id, hotel_id, reservation_client_id, check_in,"
        "   check_out, number_of_people, status, type)"
        "   SELECT x.id, 1, c.id, x.night, x.night + 1, 1, 'confirmed', 'web'"
        "   FROM c, unnest(%s::uuid[], %s::date[]) AS x(id, night) RETURNING id)"
        " INSERT INTO reservation_details (hotel_id, reservation_id, date, room_id,"
        "   number_of_people) SELECT 1, x.id, x.night, x.room, 1"
        " FROM unnest(%s::uuid[], %s::int[], %s::date[]) AS x(id, room, night) RETURNING 1",
        ids,
        nights,
        ids,
        rooms,
        nights,
    )


async def test_a_changed_stay_stays_in_the_guests_room_or_is_refused(
    settings: Settings, db_url: str
) -> None:
    """The guest's room is taken on a night the change adds: refused, nothing moves (another
    room is free); a change into nights the room has free is written in it."""
    key = await create_key(db_url, 1)
    type_id, rooms = await room_type_with_rooms(db_url, 1)
    day = timedelta(days=1)
    await fetch(
        db_url,
        "UPDATE reservation_details SET cancelled = reservation_id WHERE hotel_id = 1"
        " AND date BETWEEN %s AND %s AND room_id = ANY(%s) RETURNING 1",
        FAR,
        FAR + 3 * day,
        rooms,
    )
    async with running_api(settings, MemoryCache()) as api, api.client(key) as http:
        created = await http.post("/api/booking-engine/bookings", json=body(type_id, FAR, 2))
        assert created.status_code == 201, created.text
        booking_id = created.json()["booking_id"]
        guests_room = rooms[-1]  # the last by priority: never the first free one
        await fetch(
            db_url,
            "UPDATE reservation_details SET room_id = %s WHERE reservation_id = %s RETURNING 1",
            guests_room,
            booking_id,
        )
        # The second night only the guest's room is free; the third night it is taken.
        others = [r for r in rooms if r != guests_room]
        await block_rooms(
            db_url, [*others, guests_room], [FAR + day] * len(others) + [FAR + 2 * day]
        )

        url = f"/api/booking-engine/bookings/{booking_id}"
        nights_sql = (
            "SELECT date, room_id FROM reservation_details WHERE reservation_id = %s"
            " AND cancelled IS NULL ORDER BY date"
        )
        before = await fetch(db_url, nights_sql, booking_id)

        too_long = await http.put(url, json={"check_out": (FAR + 3 * day).isoformat()})

        # Another room is free on the third night, but the PMS never moves a guest.
        assert (too_long.status_code, too_long.json()["error"]) == (409, "not_available")
        assert await fetch(db_url, nights_sql, booking_id) == before
        stay = {"check_in": (FAR - day).isoformat(), "check_out": (FAR + 2 * day).isoformat()}
        earlier = await http.put(url, json=stay)
        assert earlier.status_code == 200, earlier.text
        nights = await fetch(db_url, nights_sql, booking_id)
        assert nights[1:] == before  # the nights kept are the same rows' dates and room
        assert nights[0] == (FAR - day, guests_room)


async def test_update_into_a_full_night_is_refused_and_changes_nothing(
    settings: Settings, db_url: str
) -> None:
    key = await create_key(db_url, 1)
    type_id, _ = await room_type_with_rooms(db_url, 1)
    full = date.today() + timedelta(days=140)
    await fill_all_but(db_url, 1, type_id, [full], keep=1)
    async with running_api(settings, MemoryCache()) as api, api.client(key) as http:
        last = await http.post("/api/booking-engine/bookings", json=body(type_id, full, 1))
        assert last.status_code == 201
        other = await http.post("/api/booking-engine/bookings", json=body(type_id, FAR, 2))
        assert other.status_code == 201
        other_id = other.json()["booking_id"]
        moved = await http.put(
            f"/api/booking-engine/bookings/{other_id}",
            json={"check_in": full.isoformat(), "check_out": (full + timedelta(1)).isoformat()},
        )
        assert moved.status_code == 409 and moved.json()["error"] == "not_available"
        detail = moved.json()["detail"]
        assert [n["available"] for n in detail["nights"]] == [0]
        assert detail["still_available"] == await free_in_pms(db_url, full, full + timedelta(1))
        unchanged = await http.get(f"/api/booking-engine/bookings/{other_id}")
        assert unchanged.json() == other.json()
        bad = await http.put(f"/api/booking-engine/bookings/{other_id}", json={"guests": 0})
        assert bad.status_code == 400
        backwards = await http.put(
            f"/api/booking-engine/bookings/{other_id}",
            json={"check_out": (FAR - timedelta(1)).isoformat()},
        )
        assert backwards.status_code == 422

        first = await http.delete(f"/api/booking-engine/bookings/{other_id}")
        second = await http.delete(f"/api/booking-engine/bookings/{other_id}")
        assert first.status_code == second.status_code == 200
        assert first.json() == second.json() and first.json()["status"] == "cancelled"

        seeded = await fetch(
            db_url, "SELECT id FROM reservations WHERE hotel_id = 1 AND type <> 'web' LIMIT 1"
        )
        refused = await http.delete(f"/api/booking-engine/bookings/{seeded[0][0]}")
        assert refused.status_code == 409 and refused.json()["error"] == "not_a_web_booking"
        readable = await http.get(f"/api/booking-engine/bookings/{seeded[0][0]}")
        assert readable.status_code == 200
