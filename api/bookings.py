"""Booking writes into the PMS tables: one transaction each, serialized per room type and night."""

from __future__ import annotations

import hashlib
import uuid
from datetime import date, timedelta
from typing import Any

import msgspec
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from api.errors import ApiError
from api.schemas import (
    Booking,
    BookingCreate,
    BookingUpdate,
    ConflictDetail,
    RoomTypeLeft,
)
from bridge.sql import query
from metrics.definitions import api_bookings

MAX_NIGHTS = 30
MAX_DAYS_AHEAD = 366

Conn = AsyncConnection[Any]


def check_stay(check_in: date, check_out: date, today: date, begun: bool = False) -> None:
    """The stay rules every write enforces (422 when broken). A stay that has begun (its guest
    has arrived) keeps its check_in and its nights before today, and may end today or later."""
    if check_out <= check_in:
        raise ApiError(422, "invalid_stay", "check_out must be after check_in")
    if (check_out - check_in).days > MAX_NIGHTS:
        raise ApiError(422, "invalid_stay", f"a stay is at most {MAX_NIGHTS} nights")
    if begun:
        if check_out < today:
            raise ApiError(422, "invalid_stay", "the stay has begun: check_out cannot be past")
    elif check_in < today:
        raise ApiError(422, "invalid_stay", "check_in is in the past")
    if check_out > today + timedelta(days=MAX_DAYS_AHEAD):
        raise ApiError(422, "invalid_stay", f"check_out is more than {MAX_DAYS_AHEAD} days ahead")


def request_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def nights_of(check_in: date, check_out: date) -> list[date]:
    return [check_in + timedelta(days=i) for i in range((check_out - check_in).days)]


_decode_left = msgspec.json.Decoder(list[RoomTypeLeft]).decode


def _conflict(room_type_id: int, left: list[RoomTypeLeft]) -> ApiError:
    """409 with what is still available for those nights, per room type."""
    asked = next((t.nights for t in left if t.room_type_id == room_type_id), [])
    detail = ConflictDetail(
        message=f"no room of type {room_type_id} is free for every night requested",
        room_type_id=room_type_id,
        nights=asked,
        still_available=left,
    )
    return ApiError(409, "not_available", msgspec.to_builtins(detail))


def _no_room_type(hotel_id: int, room_type_id: int) -> ApiError:
    return ApiError(404, "not_found", f"room type {room_type_id} not found in hotel {hotel_id}")


def _over_capacity(guests: int, capacity: int) -> ApiError:
    return ApiError(
        422, "over_capacity", f"{guests} guests exceed the room type's capacity of {capacity}"
    )


def _unknown_plan(plan_id: int | None) -> ApiError:
    return ApiError(422, "unknown_plan", f"plan {plan_id} is not an active plan here")


_decode_booking = msgspec.json.Decoder(Booking).decode


async def read_booking(conn: Conn, hotel_id: int, booking_id: uuid.UUID) -> Booking | None:
    cur = await conn.execute(query("api_booking_get"), {"hotel_id": hotel_id, "id": booking_id})
    row = await cur.fetchone()
    return None if row is None or row[0] is None else _decode_booking(row[0])


class Answer(msgspec.Struct, frozen=True):
    """What POST /bookings answers: 201 with the new booking, or a retry's first answer."""

    status_code: int
    booking: Booking


class Created(msgspec.Struct, tag="created", tag_field="outcome"):
    booking: Booking


class Earlier(msgspec.Struct, tag="earlier", tag_field="outcome"):
    """The key's committed claim: the body it was made with and its first answer."""

    request_hash: str
    status_code: int
    booking: Booking | None


class Taken(msgspec.Struct, tag="taken", tag_field="outcome"):
    """Some night has no free room of the type; nothing was written."""

    left: list[RoomTypeLeft]


class NoRoomType(msgspec.Struct, tag="no_room_type", tag_field="outcome"):
    """The hotel has no such room type."""


class OverCapacity(msgspec.Struct, tag="over_capacity", tag_field="outcome"):
    capacity: int


class UnknownPlan(msgspec.Struct, tag="unknown_plan", tag_field="outcome"):
    """The plan asked for is not an active plan of the hotel."""


_decode_outcome = msgspec.json.Decoder(
    Created | Earlier | Taken | NoRoomType | OverCapacity | UnknownPlan
).decode


def _replay(body_hash: str, earlier: Earlier) -> Answer:
    """The answer to a retry: the first answer to the same body, 422 for another body."""
    if earlier.request_hash != body_hash:
        raise ApiError(
            422, "idempotency_key_reused", "this Idempotency-Key was used with another request body"
        )
    api_bookings.labels(op="create", outcome="replayed").inc()
    if earlier.booking is None:
        raise ApiError(409, "conflict", "the booking of this Idempotency-Key no longer exists")
    return Answer(earlier.status_code, earlier.booking)


async def earlier(
    pool: AsyncConnectionPool[Any], api_key_id: int, idempotency: tuple[str, str]
) -> Answer | None:
    """The answer of an Idempotency-Key already claimed (422 for another body), or None."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            query("api_booking_earlier"),
            {"api_key_id": api_key_id, "idempotency_key": idempotency[0]},
        )
        row = await cur.fetchone()
    if row is None or row[0] is None:
        return None
    claim = _decode_outcome(row[0])
    assert isinstance(claim, Earlier)
    return _replay(idempotency[1], claim)


async def create(
    pool: AsyncConnectionPool[Any],
    api_key_id: int,
    body: BookingCreate,
    idempotency: tuple[str, str] | None,
) -> Answer:
    """Creates the guest, the web reservation and its nights; 409 when a night is full.

    One statement (pms_bridge.api_booking_create) does it all: rooms are chosen under the
    locks of the stay's (hotel, room type, night)s and written in the same transaction, which
    the statement's own commit ends, so no lock is held across a round trip to this process. With an
    Idempotency-Key the answer is stored in that transaction too: a retry finds either
    nothing or the whole booking with its answer.
    """
    guest = body.guest
    params = {
        "id": uuid.uuid4(),
        "hotel_id": body.hotel_id,
        "room_type_id": body.room_type_id,
        "plan_id": body.plan_id,
        "check_in": body.check_in,
        "check_out": body.check_out,
        "people": body.guests,
        "name": guest.name,
        "name_kana": guest.name_kana,
        "email": guest.email,
        "phone": guest.phone,
        "payment_timing": body.payment_timing,
        "comment": body.comment,
        "booking_engine_id": body.booking_engine_id,
        "api_key_id": api_key_id,
        "idempotency_key": idempotency[0] if idempotency else None,
        "request_hash": idempotency[1] if idempotency else None,
    }
    async with pool.connection() as conn:
        # Autocommit: the statement is its own transaction, so its commit releases the locks.
        assert conn.autocommit, "the booking write needs an autocommit connection"
        cur = await conn.execute(query("api_booking_create"), params)
        row = await cur.fetchone()
        assert row is not None
    outcome = _decode_outcome(row[0])
    if isinstance(outcome, Taken):
        api_bookings.labels(op="create", outcome="conflict").inc()
        raise _conflict(body.room_type_id, outcome.left)
    if isinstance(outcome, Created):
        api_bookings.labels(op="create", outcome="created").inc()
        return Answer(201, outcome.booking)
    if isinstance(outcome, Earlier):
        assert idempotency is not None
        return _replay(idempotency[1], outcome)
    if isinstance(outcome, NoRoomType):
        raise _no_room_type(body.hotel_id, body.room_type_id)
    if isinstance(outcome, OverCapacity):
        raise _over_capacity(body.guests, outcome.capacity)
    raise _unknown_plan(body.plan_id)


async def _locked(conn: Conn, hotel_id: int, booking_id: uuid.UUID) -> dict[str, Any]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        query("api_booking_reservation_for_update"), {"hotel_id": hotel_id, "id": booking_id}
    )
    row = await cur.fetchone()
    if row is None:
        raise ApiError(404, "not_found", f"booking {booking_id} not found")
    if row["type"] != "web":
        raise ApiError(
            409,
            "not_a_web_booking",
            "only bookings made through the booking engine can change here",
        )
    return row


async def update(
    pool: AsyncConnectionPool[Any],
    hotel_id: int,
    booking_id: uuid.UUID,
    body: BookingUpdate,
    today: date,
) -> Booking:
    """New dates or guests are re-checked against availability inside the same transaction."""
    async with pool.connection() as conn, conn.transaction():
        res = await _locked(conn, hotel_id, booking_id)
        if res["status"] == "cancelled":
            raise ApiError(409, "booking_cancelled", "a cancelled booking cannot be changed")
        check_in = body.check_in or res["check_in"]
        check_out = body.check_out or res["check_out"]
        guests = body.guests or res["number_of_people"]
        moved = (check_in, check_out, guests) != (
            res["check_in"],
            res["check_out"],
            res["number_of_people"],
        )
        if moved:
            if res["check_out"] < today:
                raise ApiError(422, "invalid_stay", "the stay has ended: it cannot change")
            begun = res["check_in"] < today
            if begun and check_in != res["check_in"]:
                raise ApiError(422, "invalid_stay", "the stay has begun: check_in cannot change")
            check_stay(check_in, check_out, today, begun)
            await _move(conn, hotel_id, booking_id, max(check_in, today), check_out, guests, today)
        await conn.execute(
            query("api_booking_reservation_update"),
            {
                "hotel_id": hotel_id,
                "id": booking_id,
                "check_in": check_in,
                "check_out": check_out,
                "people": guests,
                "comment": body.comment,
            },
        )
        if body.guest is not None:
            g = body.guest
            await conn.execute(
                query("api_booking_client_update"),
                {
                    "client_id": res["reservation_client_id"],
                    "name": g.name,
                    "name_kana": g.name_kana,
                    "email": g.email,
                    "phone": g.phone,
                },
            )
        await _echo(conn, hotel_id, booking_id)
        booking = await read_booking(conn, hotel_id, booking_id)
        assert booking is not None
    api_bookings.labels(op="update", outcome="updated").inc()
    return booking


async def _move(
    conn: Conn,
    hotel_id: int,
    booking_id: uuid.UUID,
    check_in: date,
    check_out: date,
    guests: int,
    today: date,
) -> None:
    """The booking's nights from today on written again as [check_in, check_out), for new
    dates or guests, under those nights' locks, keeping its rooms where they are free and its
    plan (nights without one keep none). Nights before today (a stay that has begun) are
    history, billed as they are: they stay untouched."""
    cur = await conn.execute(
        query("api_booking_current_nights"), {"hotel_id": hotel_id, "id": booking_id}
    )
    current = await cur.fetchall()
    if not current or current[0][2] is None:
        raise ApiError(409, "no_room_type", "the booking has no room to re-check against")
    type_id, plan_id = current[0][2], current[0][3]
    cur = await conn.execute(
        query("api_booking_room_type_and_plan"),
        {"hotel_id": hotel_id, "room_type_id": type_id, "plan_id": plan_id},
    )
    found = await cur.fetchone()
    assert found is not None  # one row always, NULLs for what is missing
    type_found, max_capacity, plan_found = found[0], found[3], found[4:]
    if type_found is None:
        raise _no_room_type(hotel_id, type_id)
    if guests > max_capacity:
        raise _over_capacity(guests, max_capacity)
    if plan_id is not None and plan_found[0] is None:
        raise _unknown_plan(plan_id)
    plan = plan_found if plan_id is not None else (None, None, None, None)
    await conn.execute(
        query("api_booking_details_delete"),
        {"hotel_id": hotel_id, "reservation_id": booking_id, "from_date": today},
    )
    if check_out <= check_in:
        return  # a stay that has begun, now ending today
    await conn.execute(
        query("api_booking_lock"),
        {
            "hotel_id": hotel_id,
            "room_type_id": type_id,
            "check_in": check_in,
            "check_out": check_out,
        },
    )
    # The guest's rooms nearest today first: tonight's (or last night's) is the one they are in.
    preferred = [
        night[1] for night in sorted(current, key=lambda n: (n[0] < today, abs(n[0] - today)))
    ]
    spans = [(check_in, check_out)]
    if current[0][0] < today and (check_out - check_in).days > 1:
        # Under way, tonight is placed on its own, in the guest's room, and the rest after
        # it: one room for the whole rest of the stay must not move the guest out tonight.
        tomorrow = check_in + timedelta(days=1)
        spans = [(check_in, tomorrow), (tomorrow, check_out)]
    rooms: list[int] = []
    for first, end in spans:
        cur = await conn.execute(
            query("api_booking_assign_rooms"),
            {
                "hotel_id": hotel_id,
                "room_type_id": type_id,
                "check_in": first,
                "check_out": end,
                "people": guests,
                "exclude": booking_id,
                "preferred": preferred,
            },
        )
        placed = (await cur.fetchone() or (None,))[0]
        if placed is None:
            api_bookings.labels(op="update", outcome="conflict").inc()
            cur = await conn.execute(
                query("api_booking_rooms_left"),
                {"hotel_id": hotel_id, "check_in": check_in, "check_out": check_out},
            )
            left = await cur.fetchone()
            assert left is not None
            raise _conflict(type_id, _decode_left(left[0]))
        rooms += placed
        preferred = [placed[-1], *preferred]
    cur = await conn.execute(
        query("api_booking_stay_prices"),
        {
            "hotel_id": hotel_id,
            "plan_id": plan[0],
            "plan_type": plan[3],
            "check_in": check_in,
            "check_out": check_out,
            "people": guests,
        },
    )
    prices = (await cur.fetchone() or (None,))[0]
    await conn.execute(
        query("api_booking_details_insert"),
        {
            "hotel_id": hotel_id,
            "reservation_id": booking_id,
            "plan_id": plan[0],
            "plans_global_id": plan[1],
            "plan_name": plan[2],
            "plan_type": plan[3] or "per_room",
            "people": guests,
            "dates": nights_of(check_in, check_out),
            "room_ids": rooms,
            "prices": prices,
        },
    )


async def _echo(conn: Conn, hotel_id: int, booking_id: uuid.UUID) -> None:
    await conn.execute(
        query("api_booking_sync_echo"),
        {"hotel_id": hotel_id, "booking_id": booking_id, "booking_engine_id": None, "op": "update"},
    )


async def cancel(pool: AsyncConnectionPool[Any], hotel_id: int, booking_id: uuid.UUID) -> Booking:
    """Cancels as the PMS does (status and each night's `cancelled`); twice is a no-op."""
    async with pool.connection() as conn, conn.transaction():
        res = await _locked(conn, hotel_id, booking_id)
        if res["status"] != "cancelled":
            await conn.execute(
                query("api_booking_cancel"), {"hotel_id": hotel_id, "id": booking_id}
            )
            await _echo(conn, hotel_id, booking_id)
        booking = await read_booking(conn, hotel_id, booking_id)
        assert booking is not None
    api_bookings.labels(op="cancel", outcome="cancelled").inc()
    return booking


async def get(pool: AsyncConnectionPool[Any], hotel_id: int, booking_id: uuid.UUID) -> Booking:
    async with pool.connection() as conn:
        booking = await read_booking(conn, hotel_id, booking_id)
    if booking is None:
        raise ApiError(404, "not_found", f"booking {booking_id} not found")
    return booking
