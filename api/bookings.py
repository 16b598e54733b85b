"""Booking writes into the PMS tables: one transaction each, serialized per room type."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import msgspec
from psycopg import AsyncConnection, AsyncCursor
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from api.errors import ApiError
from api.schemas import (
    BookedNight,
    Booking,
    BookingCreate,
    BookingUpdate,
    ConflictDetail,
    GuestOut,
    NightAvailable,
    RoomTypeLeft,
    SyncInfo,
)
from bridge.sql import query
from metrics.definitions import api_bookings

MAX_NIGHTS = 30
MAX_DAYS_AHEAD = 366

Conn = AsyncConnection[Any]


def check_stay(check_in: date, check_out: date, today: date) -> None:
    """The stay rules every write enforces (422 when broken)."""
    if check_out <= check_in:
        raise ApiError(422, "invalid_stay", "check_out must be after check_in")
    if (check_out - check_in).days > MAX_NIGHTS:
        raise ApiError(422, "invalid_stay", f"a stay is at most {MAX_NIGHTS} nights")
    if check_in < today:
        raise ApiError(422, "invalid_stay", "check_in is in the past")
    if check_out > today + timedelta(days=MAX_DAYS_AHEAD):
        raise ApiError(422, "invalid_stay", f"check_out is more than {MAX_DAYS_AHEAD} days ahead")


def request_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def nights_of(check_in: date, check_out: date) -> list[date]:
    return [check_in + timedelta(days=i) for i in range((check_out - check_in).days)]


def assign_rooms(
    free: dict[date, list[int]], nights: Sequence[date], preferred: Sequence[int] = ()
) -> list[int] | None:
    """A room per night: one room for the whole stay when any is free throughout (preferring
    `preferred`, then the PMS's assignment priority), else night by night, keeping the previous
    night's room where possible; None when some night has no room at all."""
    if any(not free.get(night) for night in nights):
        return None
    whole = set(free[nights[0]]).intersection(*(free[n] for n in nights[1:]))
    if whole:
        ranked = [r for r in preferred if r in whole] + [r for r in free[nights[0]] if r in whole]
        return [ranked[0]] * len(nights)
    rooms: list[int] = []
    for night in nights:
        candidates = free[night]
        keep = rooms[-1] if rooms and rooms[-1] in candidates else None
        rooms.append(keep if keep is not None else candidates[0])
    return rooms


async def _queue_free_rooms(
    conn: Conn, hotel_id: int, room_type_id: int, check_in: date, check_out: date, guests: int,
    exclude: uuid.UUID | None,
) -> AsyncCursor[Any]:  # fmt: skip
    return await conn.execute(
        query("api_booking_free_rooms"),
        {
            "hotel_id": hotel_id, "room_type_id": room_type_id, "check_in": check_in,
            "check_out": check_out, "people": guests, "exclude": exclude,
        },
    )  # fmt: skip


async def _free_of(cur: AsyncCursor[Any]) -> dict[date, list[int]]:
    free: dict[date, list[int]] = {}
    for night, room_id, fits in await cur.fetchall():
        if fits:
            free.setdefault(night, []).append(room_id)
    return free


async def _free_rooms(
    conn: Conn, hotel_id: int, room_type_id: int, check_in: date, check_out: date, guests: int,
    exclude: uuid.UUID | None,
) -> dict[date, list[int]]:  # fmt: skip
    return await _free_of(
        await _queue_free_rooms(conn, hotel_id, room_type_id, check_in, check_out, guests, exclude)
    )


async def _conflict(
    conn: Conn, hotel_id: int, room_type_id: int, check_in: date, check_out: date
) -> ApiError:
    """409 with what is still available for those nights, per room type."""
    cur = await conn.execute(
        query("api_booking_hotel_availability"),
        {"hotel_id": hotel_id, "check_in": check_in, "check_out": check_out},
    )
    by_type: dict[int, list[NightAvailable]] = {}
    for type_id, night, available in await cur.fetchall():
        by_type.setdefault(type_id, []).append(NightAvailable(night, available))
    left = [
        RoomTypeLeft(type_id, nights, all(n.available > 0 for n in nights))
        for type_id, nights in sorted(by_type.items())
    ]
    detail = ConflictDetail(
        message=f"no room of type {room_type_id} is free for every night requested",
        room_type_id=room_type_id,
        nights=by_type.get(room_type_id, []),
        still_available=left,
    )
    return ApiError(409, "not_available", msgspec.to_builtins(detail))


def _check_room_type(row: Any, hotel_id: int, room_type_id: int, guests: int) -> None:
    if row is None:
        raise ApiError(404, "not_found", f"room type {room_type_id} not found in hotel {hotel_id}")
    if guests > row[3]:
        raise ApiError(
            422, "over_capacity", f"{guests} guests exceed the room type's capacity of {row[3]}"
        )


def _plan_of(row: Any, plan_id: int | None) -> dict[str, Any] | None:
    if row is None:
        if plan_id is not None:
            raise ApiError(422, "unknown_plan", f"plan {plan_id} is not an active plan here")
        return None
    return {"id": row[0], "global_id": row[1], "name": row[2], "type": row[3]}


def _prices_of(
    rows: list[Any], plan: dict[str, Any] | None, nights: list[date], guests: int
) -> list[float]:
    """Each night's price from the price projector's own query (so a booking costs what the
    cache shows); a night without a rate costs 0; per-person plans are per guest."""
    if plan is None:
        return [0.0] * len(nights)
    by_night = {
        night: float(price)
        for _, plan_id, _, _, _, night, price in rows
        if plan_id == plan["id"] and night is not None and price is not None
    }
    factor = guests if plan["type"] == "per_person" else 1
    return [round(by_night.get(night, 0.0) * factor, 2) for night in nights]


def _price_params(hotel_id: int, check_in: date, check_out: date) -> dict[str, Any]:
    return {"everything": False, "hotel_ids": [hotel_id], "global_ids": [],
            "lo": check_in, "hi": check_out - timedelta(days=1)}  # fmt: skip


async def _queue_room_type_and_plan(
    conn: Conn, hotel_id: int, room_type_id: int, plan_id: int | None
) -> AsyncCursor[Any]:
    return await conn.execute(
        query("api_booking_room_type_and_plan"),
        {"hotel_id": hotel_id, "room_type_id": room_type_id, "plan_id": plan_id},
    )


async def _room_type_and_plan_row(cur: AsyncCursor[Any]) -> tuple[Any, Any]:
    """The room type's part of the row and the plan's, each None when there is none."""
    row = await cur.fetchone()
    assert row is not None  # one row always, NULLs for what is missing
    return (row[:4] if row[0] is not None else None), (row[4:] if row[4] is not None else None)


async def _prices(
    conn: Conn, hotel_id: int, plan: dict[str, Any] | None, check_in: date, check_out: date,
    guests: int,
) -> list[float]:  # fmt: skip
    if plan is None:
        return [0.0] * (check_out - check_in).days
    cur = await conn.execute(
        query("prices_recompute"), _price_params(hotel_id, check_in, check_out)
    )
    return _prices_of(await cur.fetchall(), plan, nights_of(check_in, check_out), guests)


async def _write_nights(
    conn: Conn, hotel_id: int, booking_id: uuid.UUID, plan: dict[str, Any] | None,
    nights: list[date], rooms: list[int], prices: list[float], guests: int,
) -> None:  # fmt: skip
    await conn.execute(
        query("api_booking_details_insert"),
        {
            "hotel_id": hotel_id, "reservation_id": booking_id,
            "plan_id": plan["id"] if plan else None,
            "plans_global_id": plan["global_id"] if plan else None,
            "plan_name": plan["name"] if plan else None,
            "plan_type": plan["type"] if plan else "per_room",
            "people": guests, "dates": nights, "room_ids": rooms, "prices": prices,
        },
    )  # fmt: skip


async def _echo(
    conn: Conn, hotel_id: int, booking_id: uuid.UUID, booking_engine_id: str | None, op: str
) -> None:
    await conn.execute(
        query("api_booking_sync_echo"),
        {"hotel_id": hotel_id, "booking_id": booking_id,
         "booking_engine_id": booking_engine_id, "op": op},
    )  # fmt: skip


class _BookingRead(msgspec.Struct):
    """A booking's read-back query, queued (possibly in a pipeline) before it is read."""

    cursor: AsyncCursor[dict[str, Any]]

    @classmethod
    async def queue(cls, conn: Conn, hotel_id: int, booking_id: uuid.UUID) -> _BookingRead:
        cursor = conn.cursor(row_factory=dict_row)
        await cursor.execute(query("api_booking_get"), {"hotel_id": hotel_id, "id": booking_id})
        return cls(cursor)

    async def result(self) -> Booking | None:
        row = await self.cursor.fetchone()
        return None if row is None else _booking(row)


async def read_booking(conn: Conn, hotel_id: int, booking_id: uuid.UUID) -> Booking | None:
    return await (await _BookingRead.queue(conn, hotel_id, booking_id)).result()


def _booking(row: dict[str, Any]) -> Booking:
    nights = [
        BookedNight(
            date=date.fromisoformat(n["date"]), room_id=n["room_id"],
            room_number=n["room_number"],
            room_type_id=n["room_type_id"], plan_id=n["plans_hotel_id"],
            plan_name=n["plan_name"], guests=n["number_of_people"],
            price=float(n["price"] or 0), cancelled=n["cancelled"],
        )
        for n in row["nights"]
    ]  # fmt: skip
    return Booking(
        booking_id=row["id"], hotel_id=row["hotel_id"], status=row["status"], type=row["type"],
        check_in=row["check_in"], check_out=row["check_out"], guests=row["number_of_people"],
        payment_timing=row["payment_timing"], comment=row["comment"],
        guest=GuestOut(row["client_id"], row["name"], row["name_kana"], row["email"],
                       row["phone"]),
        nights=nights,
        total_price=round(sum(n.price for n in nights if not n.cancelled), 2),
        sync=SyncInfo(row["booking_engine_id"], row["sync_status"], row["last_sync_attempt"],
                      row["error_message"]),
        created_at=row["created_at"], updated_at=row["updated_at"],
    )  # fmt: skip


class Replay(msgspec.Struct, frozen=True):
    status_code: int
    booking: Booking
    fresh: bool = False  # made by this request, so its answer is to be remembered


class RoomsTaken(Exception):
    """No room is free for every night (or the one chosen without the lock was taken)."""


async def _claim(
    conn: Conn, api_key_id: int, key: str, body_hash: str, hotel_id: int, booking_id: uuid.UUID
) -> AsyncCursor[Any]:
    """Queues the Idempotency-Key claim naming this booking; a row back means it is ours."""
    return await conn.execute(
        query("api_idempotency_claim"),
        {"api_key_id": api_key_id, "key": key, "request_hash": body_hash, "hotel_id": hotel_id,
         "booking_id": booking_id},
    )  # fmt: skip


async def _stored_claim(conn: Conn, api_key_id: int, key: str) -> AsyncCursor[Any]:
    return await conn.execute(query("api_idempotency_get"), {"api_key_id": api_key_id, "key": key})


async def _replay(conn: Conn, body_hash: str, row: Any) -> Replay:
    """The answer to a retry (`row`: the key's committed claim): the first answer to the same
    body, 422 for another body."""
    stored_hash, status_code, response, hotel_id, booking_id = row
    if stored_hash != body_hash:
        raise ApiError(
            422, "idempotency_key_reused", "this Idempotency-Key was used with another request body"
        )
    api_bookings.labels(op="create", outcome="replayed").inc()
    if response is not None:
        return Replay(status_code, msgspec.convert(response, Booking))
    # Committed, but the process stopped before it stored the answer: the booking is there.
    booking = await read_booking(conn, hotel_id, booking_id)
    if booking is None:
        raise ApiError(409, "conflict", "the booking of this Idempotency-Key no longer exists")
    return Replay(201, booking)


async def _replay_claimed(conn: Conn, api_key_id: int, key: str, body_hash: str) -> Replay:
    """After a claim found the key taken: ON CONFLICT waited for that row's commit."""
    row = await (await _stored_claim(conn, api_key_id, key)).fetchone()
    assert row is not None
    return await _replay(conn, body_hash, row)


async def _remember(
    conn: Conn, api_key_id: int, key: str, status_code: int, booking: Booking
) -> None:
    await conn.execute(
        query("api_idempotency_store"),
        {"api_key_id": api_key_id, "key": key, "status_code": status_code,
         "response": Jsonb(msgspec.to_builtins(booking))},
    )  # fmt: skip


class _Plan(msgspec.Struct, frozen=True):
    """What a booking needs before any room is chosen: read without a lock or transaction."""

    plan: dict[str, Any] | None
    prices: list[float]
    free: dict[date, list[int]]


async def _prepare(
    conn: Conn, body: BookingCreate, nights: list[date], earlier: tuple[int, str] | None
) -> _Plan | tuple[Any, ...]:
    """Room type, plan, prices and the rooms free right now, in one pipelined round trip;
    with an Idempotency-Key (`earlier`: key id and key) the key's committed claim instead,
    when there is one, so a retry is answered before the request is checked again."""
    hotel_id, type_id = body.hotel_id, body.room_type_id
    async with conn.pipeline():
        found = await _stored_claim(conn, *earlier) if earlier is not None else None
        type_and_plan = await _queue_room_type_and_plan(conn, hotel_id, type_id, body.plan_id)
        price_cur = await conn.execute(
            query("prices_recompute"), _price_params(hotel_id, body.check_in, body.check_out)
        )
        free_cur = await _queue_free_rooms(
            conn, hotel_id, type_id, body.check_in, body.check_out, body.guests, None
        )
    stored: tuple[Any, ...] | None = await found.fetchone() if found is not None else None
    if stored is not None:
        return stored
    type_row, plan_row = await _room_type_and_plan_row(type_and_plan)
    _check_room_type(type_row, hotel_id, type_id, body.guests)
    plan = _plan_of(plan_row, body.plan_id)
    prices = _prices_of(await price_cur.fetchall(), plan, nights, body.guests)
    return _Plan(plan, prices, await _free_of(free_cur))


def _write_params(
    body: BookingCreate, booking_id: uuid.UUID, api_key_id: int,
    idempotency: tuple[str, str] | None,
    plan: dict[str, Any] | None, nights: list[date], rooms: list[int], prices: list[float],
) -> dict[str, Any]:  # fmt: skip
    guest = body.guest
    return {
        "id": booking_id, "hotel_id": body.hotel_id, "room_type_id": body.room_type_id,
        "name": guest.name, "name_kana": guest.name_kana, "email": guest.email,
        "phone": guest.phone, "check_in": body.check_in, "check_out": body.check_out,
        "people": body.guests, "payment_timing": body.payment_timing, "comment": body.comment,
        "plan_id": plan["id"] if plan else None,
        "plans_global_id": plan["global_id"] if plan else None,
        "plan_name": plan["name"] if plan else None,
        "plan_type": plan["type"] if plan else "per_room",
        "dates": nights, "room_ids": rooms, "prices": prices,
        "booking_engine_id": body.booking_engine_id, "api_key_id": api_key_id,
        "idempotency_key": idempotency[0] if idempotency else None,
        "request_hash": idempotency[1] if idempotency else None,
    }  # fmt: skip


async def create(
    pool: AsyncConnectionPool[Any],
    api_key_id: int,
    body: BookingCreate,
    idempotency: tuple[str, str] | None,
) -> Replay:
    """Creates the guest, the web reservation and its nights; 409 when a night is full.

    Optimistic first: the rooms are chosen from a read taken without a lock, then one
    pipelined round trip takes the (hotel, room type) lock, re-checks and writes in one
    statement, reads the booking back and commits, so the lock is never held across a
    round trip to this process. Only when a chosen room was taken meanwhile (the write then
    writes nothing) is the choice made again under the lock.
    """
    nights = nights_of(body.check_in, body.check_out)
    booking_id = uuid.uuid4()
    async with pool.connection() as conn:
        prepared = await _prepare(
            conn, body, nights, (api_key_id, idempotency[0]) if idempotency else None
        )
        if not isinstance(prepared, _Plan):
            assert idempotency is not None
            return await _replay(conn, idempotency[1], prepared)
        rooms = assign_rooms(prepared.free, nights)
        try:
            if rooms is None and idempotency is None:
                # Full when read: the answer holds at that moment, no lock needed to give it.
                raise RoomsTaken
            outcome: Replay | None = None
            if rooms is not None:
                try:
                    outcome = await _write(conn, body, booking_id, api_key_id, idempotency,
                                           prepared, rooms)  # fmt: skip
                except RoomsTaken:
                    api_bookings.labels(op="create", outcome="raced").inc()
            if outcome is None:
                outcome = await _write_locked(conn, body, booking_id, api_key_id, idempotency,
                                              prepared)  # fmt: skip
        except RoomsTaken:
            api_bookings.labels(op="create", outcome="conflict").inc()
            raise await _conflict(
                conn, body.hotel_id, body.room_type_id, body.check_in, body.check_out
            ) from None
        if idempotency is not None and outcome.status_code == 201 and outcome.fresh:
            await _remember(conn, api_key_id, idempotency[0], 201, outcome.booking)
    return outcome


async def _write(
    conn: Conn, body: BookingCreate, booking_id: uuid.UUID, api_key_id: int,
    idempotency: tuple[str, str] | None, prepared: _Plan, rooms: list[int],
) -> Replay:  # fmt: skip
    """The pipelined transaction: lock, the write (claim and re-check included), read-back."""
    nights = nights_of(body.check_in, body.check_out)
    params = _write_params(body, booking_id, api_key_id, idempotency, prepared.plan, nights,
                           rooms, prepared.prices)  # fmt: skip
    # On this autocommit connection the pipeline's statements, up to the Sync it ends with,
    # are one implicit transaction: the lock is taken, the write and the read-back run and
    # the transaction commits without a round trip to this process in between (psycopg's
    # transaction() would sync before its COMMIT, holding the lock across one). The write
    # writes nothing when it may not, so what commits is always consistent; an error ends
    # the transaction at the Sync, with nothing written.
    assert conn.autocommit, "the booking write needs an autocommit connection"
    async with conn.pipeline():
        await conn.execute(
            query("api_booking_lock"),
            {"hotel_id": body.hotel_id, "room_type_id": body.room_type_id},
        )
        written = await conn.execute(query("api_booking_write"), params)
        read = await _BookingRead.queue(conn, body.hotel_id, booking_id)
    outcome = await written.fetchone()
    assert outcome is not None
    rooms_free, nights_written = outcome
    if not rooms_free:
        raise RoomsTaken
    if not nights_written:
        assert idempotency is not None  # only an earlier claim of the key stops a free write
        return await _replay_claimed(conn, api_key_id, *idempotency)
    booking = await read.result()
    assert booking is not None
    api_bookings.labels(op="create", outcome="created").inc()
    return Replay(201, booking, fresh=True)


async def _write_locked(
    conn: Conn, body: BookingCreate, booking_id: uuid.UUID, api_key_id: int,
    idempotency: tuple[str, str] | None, prepared: _Plan,
) -> Replay:  # fmt: skip
    """The serialized path: [claim], lock, the free rooms read again, choose, write; the
    transaction is rolled back (RoomsTaken) when nothing is free, before the 409 is built."""
    hotel_id, type_id = body.hotel_id, body.room_type_id
    nights = nights_of(body.check_in, body.check_out)
    async with conn.transaction():
        if idempotency is not None:
            claim = await _claim(conn, api_key_id, *idempotency, hotel_id, booking_id)
            if await claim.fetchone() is None:
                return await _replay_claimed(conn, api_key_id, *idempotency)
        async with conn.pipeline():
            await conn.execute(
                query("api_booking_lock"), {"hotel_id": hotel_id, "room_type_id": type_id}
            )
            free_cur = await _queue_free_rooms(
                conn, hotel_id, type_id, body.check_in, body.check_out, body.guests, None
            )
        rooms = assign_rooms(await _free_of(free_cur), nights)
        if rooms is None:
            raise RoomsTaken
        params = _write_params(body, booking_id, api_key_id, idempotency, prepared.plan,
                               nights, rooms, prepared.prices)  # fmt: skip
        async with conn.pipeline():
            await conn.execute(query("api_booking_write"), params)
            read = await _BookingRead.queue(conn, hotel_id, booking_id)
        booking = await read.result()
        assert booking is not None
    api_bookings.labels(op="create", outcome="created").inc()
    return Replay(201, booking, fresh=True)


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
    pool: AsyncConnectionPool[Any], hotel_id: int, booking_id: uuid.UUID, body: BookingUpdate,
    today: date,
) -> Booking:  # fmt: skip
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
            check_stay(check_in, check_out, today)
            cur = await conn.execute(
                query("api_booking_current_nights"), {"hotel_id": hotel_id, "id": booking_id}
            )
            current = await cur.fetchall()
            if not current or current[0][2] is None:
                raise ApiError(409, "no_room_type", "the booking has no room to re-check against")
            type_id, plan_id = current[0][2], current[0][3]
            await conn.execute(
                query("api_booking_lock"), {"hotel_id": hotel_id, "room_type_id": type_id}
            )
            found = await _queue_room_type_and_plan(conn, hotel_id, type_id, plan_id)
            type_row, plan_row = await _room_type_and_plan_row(found)
            _check_room_type(type_row, hotel_id, type_id, guests)
            nights = nights_of(check_in, check_out)
            free = await _free_rooms(
                conn, hotel_id, type_id, check_in, check_out, guests, booking_id
            )
            rooms = assign_rooms(free, nights, preferred=[row[1] for row in current])
            if rooms is None:
                api_bookings.labels(op="update", outcome="conflict").inc()
                raise await _conflict(conn, hotel_id, type_id, check_in, check_out)
            # Nights without a plan keep none (a new booking gets the hotel's first plan).
            plan = _plan_of(plan_row, plan_id) if plan_id is not None else None
            prices = await _prices(conn, hotel_id, plan, check_in, check_out, guests)
            await conn.execute(
                query("api_booking_details_delete"),
                {"hotel_id": hotel_id, "reservation_id": booking_id},
            )
            await _write_nights(conn, hotel_id, booking_id, plan, nights, rooms, prices, guests)
        await conn.execute(
            query("api_booking_reservation_update"),
            {"hotel_id": hotel_id, "id": booking_id, "check_in": check_in,
             "check_out": check_out, "people": guests, "comment": body.comment},
        )  # fmt: skip
        if body.guest is not None:
            g = body.guest
            await conn.execute(
                query("api_booking_client_update"),
                {"client_id": res["reservation_client_id"], "name": g.name,
                 "name_kana": g.name_kana, "email": g.email, "phone": g.phone},
            )  # fmt: skip
        await _echo(conn, hotel_id, booking_id, None, "U")
        booking = await read_booking(conn, hotel_id, booking_id)
        assert booking is not None
    api_bookings.labels(op="update", outcome="updated").inc()
    return booking


async def cancel(pool: AsyncConnectionPool[Any], hotel_id: int, booking_id: uuid.UUID) -> Booking:
    """Cancels as the PMS does (status and each night's `cancelled`); twice is a no-op."""
    async with pool.connection() as conn, conn.transaction():
        res = await _locked(conn, hotel_id, booking_id)
        if res["status"] != "cancelled":
            await conn.execute(
                query("api_booking_cancel"), {"hotel_id": hotel_id, "id": booking_id}
            )
            await _echo(conn, hotel_id, booking_id, None, "U")
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
