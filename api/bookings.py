"""Booking writes into the PMS tables: one transaction each, serialized per room type and night."""

from __future__ import annotations

import hashlib
import uuid
from datetime import date, timedelta
from typing import Any

import msgspec
from psycopg import AsyncConnection
from psycopg.rows import class_row, dict_row
from psycopg_pool import AsyncConnectionPool

from api import booking_errors as refused
from api.names import PmsName, split_name
from api.schemas import (
    MAX_NIGHTS,
    Booking,
    BookingCreate,
    BookingUpdate,
    ConflictDetail,
    GuestPatch,
    RoomTypeLeft,
)
from bridge.sql import query
from metrics.definitions import api_bookings

MAX_DAYS_AHEAD = 366

Conn = AsyncConnection[Any]


class Writer(msgspec.Struct, frozen=True):
    """Who a write is made as and on what day: the PMS user (created_by / updated_by), the
    agent a new booking names when its request does not, and the hotel's today."""

    user_id: int
    agent: str
    today: date


def check_stay(check_in: date, check_out: date, today: date, begun: bool = False) -> None:
    """The stay rules every write enforces (InvalidStay when broken). A stay that has begun
    (its guest has arrived) keeps its check_in and its nights before today, and may end today
    or later."""
    if check_out <= check_in:
        raise refused.InvalidStay("check_out must be after check_in")
    if (check_out - check_in).days > MAX_NIGHTS:
        raise refused.InvalidStay(f"a stay is at most {MAX_NIGHTS} nights")
    if begun:
        if check_out < today:
            raise refused.InvalidStay("the stay has begun: check_out cannot be past")
    elif check_in < today:
        raise refused.InvalidStay("check_in is in the past")
    if check_out > today + timedelta(days=MAX_DAYS_AHEAD):
        raise refused.InvalidStay(f"check_out is more than {MAX_DAYS_AHEAD} days ahead")


def request_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def nights_of(check_in: date, check_out: date) -> list[date]:
    return [check_in + timedelta(days=i) for i in range((check_out - check_in).days)]


_decode_left = msgspec.json.Decoder(list[RoomTypeLeft]).decode


def _conflict(room_type_id: int, left: list[RoomTypeLeft]) -> refused.NotAvailable:
    """Not available, with what is still available for those nights, per room type."""
    asked = next((t.nights for t in left if t.room_type_id == room_type_id), [])
    detail = ConflictDetail(
        message=f"no room of type {room_type_id} is free for every night requested",
        room_type_id=room_type_id,
        nights=asked,
        still_available=left,
    )
    return refused.NotAvailable(msgspec.to_builtins(detail))


def _no_room_type(hotel_id: int, room_type_id: int) -> refused.NotFound:
    return refused.NotFound(f"room type {room_type_id} not found in hotel {hotel_id}")


def _over_capacity(guests: int, capacity: int) -> refused.OverCapacity:
    return refused.OverCapacity(f"{guests} guests exceed the room type's capacity of {capacity}")


def _unknown_plan(plan: int | str | None) -> refused.UnknownPlan:
    if plan is None:
        return refused.UnknownPlan("no plan of the hotel is sold for every night")
    return refused.UnknownPlan(f"plan {plan} is not sold here for every night")


def _unpriced(nights: list[date]) -> refused.Unpriced:
    listed = ", ".join(n.isoformat() for n in nights)
    return refused.Unpriced(f"the plan has no rate for the nights {listed}")


def _guest_name(name: str, name_kana: str | None) -> PmsName:
    try:
        return split_name(name, name_kana)
    except ValueError as exc:
        raise refused.InvalidName(str(exc)) from None


_decode_booking = msgspec.json.Decoder(Booking).decode


async def _json_of(conn: Conn, name: str, params: dict[str, Any]) -> str | None:
    """The JSON text a one-column query answers (its column named json), NULL as None."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(query(name), params)
    row = await cur.fetchone()
    found: str | None = None if row is None else row["json"]
    return found


async def read_booking(conn: Conn, hotel_id: int, booking_id: uuid.UUID) -> Booking | None:
    found = await _json_of(conn, "api_booking_get", {"hotel_id": hotel_id, "id": booking_id})
    return None if found is None else _decode_booking(found)


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
    """No plan (or not the one asked for) is sold for every night of the stay."""


class Unpriced(msgspec.Struct, tag="unpriced", tag_field="outcome"):
    """The plan has no rate on these nights: not for sale (the PMS would charge 0)."""

    nights: list[date]


class UnknownPaymentType(msgspec.Struct, tag="unknown_payment_type", tag_field="outcome"):
    """The prepayment names a payment type the PMS does not have."""


class PrepaidOverTotal(msgspec.Struct, tag="prepaid_over_total", tag_field="outcome"):
    total: float


_decode_outcome = msgspec.json.Decoder(
    Created
    | Earlier
    | Taken
    | NoRoomType
    | OverCapacity
    | UnknownPlan
    | Unpriced
    | UnknownPaymentType
    | PrepaidOverTotal
).decode


def _replay(body_hash: str, earlier: Earlier) -> Answer:
    """The answer to a retry: the first answer to the same body, KeyReused for another body."""
    if earlier.request_hash != body_hash:
        raise refused.KeyReused("this Idempotency-Key was used with another request body")
    api_bookings.labels(op="create", outcome="replayed").inc()
    if earlier.booking is None:
        raise refused.KeyBookingGone("the booking of this Idempotency-Key no longer exists")
    return Answer(earlier.status_code, earlier.booking)


async def earlier(
    pool: AsyncConnectionPool[Any], api_key_id: int, idempotency: tuple[str, str]
) -> Answer | None:
    """The answer of an Idempotency-Key already claimed (KeyReused for another body), or None."""
    async with pool.connection() as conn:
        found = await _json_of(
            conn,
            "api_booking_earlier",
            {"api_key_id": api_key_id, "idempotency_key": idempotency[0]},
        )
    if found is None:
        return None
    claim = _decode_outcome(found)
    assert isinstance(claim, Earlier)
    return _replay(idempotency[1], claim)


async def create(
    pool: AsyncConnectionPool[Any],
    api_key_id: int,
    body: BookingCreate,
    idempotency: tuple[str, str] | None,
    writer: Writer,
) -> Answer:
    """Creates the guest, the web reservation and its nights; NotAvailable when no room is free.

    One statement (pms_bridge.api_booking_create) does it all: the room is chosen under the
    locks of the stay's (hotel, room type, night)s and written in the same transaction, which
    the statement's own commit ends, so no lock is held across a round trip to this process.
    With an Idempotency-Key the answer is stored in that transaction too: a retry finds
    either nothing or the whole booking with its answer.
    """
    params = create_params(api_key_id, body, idempotency, writer)
    async with pool.connection() as conn:
        # Autocommit: the statement is its own transaction, so its commit releases the locks.
        assert conn.autocommit, "the booking write needs an autocommit connection"
        found = await _json_of(conn, "api_booking_create", params)
        assert found is not None
    return created(found, body, idempotency)


def create_params(
    api_key_id: int,
    body: BookingCreate,
    idempotency: tuple[str, str] | None,
    writer: Writer,
) -> dict[str, Any]:
    """The parameters of the api_booking_create statement for a new booking."""
    guest = body.guest
    name = _guest_name(guest.name, guest.name_kana)
    paid = body.prepayment
    return {
        "id": uuid.uuid4(),
        "hotel_id": body.hotel_id,
        "room_type_id": body.room_type_id,
        "plan_id": body.plan_id,
        "plan_key": body.plan_key,
        "check_in": body.check_in,
        "check_out": body.check_out,
        "people": body.guests,
        "name": name.name,
        "name_kana": name.name_kana,
        "name_kanji": name.name_kanji,
        "gender": guest.gender,
        "person": guest.legal_or_natural_person,
        "email": guest.email,
        "phone": guest.phone,
        "payment_timing": body.payment_timing,
        "comment": body.comment,
        "agent": body.agent or writer.agent,
        "booking_engine_id": body.booking_engine_id,
        "user_id": writer.user_id,
        "prepaid": paid.amount if paid else None,
        "payment_type_id": paid.payment_type_id if paid else None,
        "payment_comment": paid.comment if paid else None,
        "today": writer.today,
        "api_key_id": api_key_id,
        "idempotency_key": idempotency[0] if idempotency else None,
        "request_hash": idempotency[1] if idempotency else None,
    }


def created(found: str, body: BookingCreate, idempotency: tuple[str, str] | None) -> Answer:
    """The answer to the outcome api_booking_create returned (JSON text); a refusal raised."""
    outcome = _decode_outcome(found)
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
    if isinstance(outcome, Unpriced):
        raise _unpriced(outcome.nights)
    if isinstance(outcome, UnknownPaymentType):
        assert body.prepayment is not None
        raise refused.UnknownPaymentType(
            f"payment type {body.prepayment.payment_type_id} is not the PMS's"
        )
    if isinstance(outcome, PrepaidOverTotal):
        raise refused.PrepaidOverTotal(
            f"the prepayment exceeds the booking's total of {outcome.total:.0f}"
        )
    raise _unknown_plan(body.plan_key or body.plan_id)


class Reservation(msgspec.Struct, frozen=True):
    """The reservation row a change or a cancellation holds locked."""

    id: uuid.UUID
    reservation_client_id: uuid.UUID
    check_in: date
    check_out: date
    number_of_people: int
    status: str
    type: str
    payment_timing: str | None
    comment: str | None


class Night(msgspec.Struct, frozen=True):
    """One night of a booking not cancelled, with its room (NULLs for a room that is gone)."""

    night: date
    room_id: int | None
    room_type_id: int | None
    capacity: int | None
    plans_hotel_id: int | None
    plans_global_id: int | None
    plan_name: str | None
    plan_type: str | None


class RoomType(msgspec.Struct, frozen=True):
    """A room type with its sellable rooms and largest capacity; NULLs for one that is gone."""

    type_id: int | None
    type_name: str | None
    sellable: int | None
    max_capacity: int | None


class Plan(msgspec.Struct, frozen=True):
    """The plan a stay is sold on."""

    plan_key: str
    plan_id: int | None
    plans_global_id: int | None
    name: str
    plan_type: str


async def _locked(conn: Conn, hotel_id: int, booking_id: uuid.UUID) -> Reservation:
    cur = conn.cursor(row_factory=class_row(Reservation))
    await cur.execute(
        query("api_booking_reservation_for_update"), {"hotel_id": hotel_id, "id": booking_id}
    )
    res = await cur.fetchone()
    if res is None:
        raise refused.NotFound(f"booking {booking_id} not found")
    if res.type != "web":
        raise _not_web()
    return res


def _not_web() -> refused.NotAWebBooking:
    return refused.NotAWebBooking("only bookings made through the booking engine can change here")


async def update(
    pool: AsyncConnectionPool[Any],
    hotel_id: int,
    booking_id: uuid.UUID,
    body: BookingUpdate,
    writer: Writer,
) -> Booking:
    """New dates or guests are re-checked against availability inside the same transaction.
    Only the nights that change are written: the kept nights keep their room, guests,
    add-ons, rates and any price the hotel's staff set."""
    today = writer.today
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(query("api_booking_as_user"), {"user_id": writer.user_id})
        res = await _locked(conn, hotel_id, booking_id)
        if res.status == "cancelled":
            raise refused.BookingCancelled("a cancelled booking cannot be changed")
        check_in = body.check_in or res.check_in
        check_out = body.check_out or res.check_out
        guests = body.guests or res.number_of_people
        moved = (check_in, check_out, guests) != (res.check_in, res.check_out, res.number_of_people)
        if moved:
            if res.check_out < today:
                raise refused.InvalidStay("the stay has ended: it cannot change")
            begun = res.check_in < today
            if begun and check_in != res.check_in:
                raise refused.InvalidStay("the stay has begun: check_in cannot change")
            check_stay(check_in, check_out, today, begun)
            stay = Stay(hotel_id, booking_id, res.reservation_client_id, guests, writer)
            await _change_nights(conn, stay, max(check_in, today), check_out)
        await conn.execute(
            query("api_booking_reservation_update"),
            {
                "hotel_id": hotel_id,
                "id": booking_id,
                "check_in": check_in,
                "check_out": check_out,
                "people": guests,
                "comment": body.comment,
                "user_id": writer.user_id,
            },
        )
        if body.guest is not None:
            await _update_guest(conn, res.reservation_client_id, body.guest, writer)
        await _echo(conn, hotel_id, booking_id)
        booking = await read_booking(conn, hotel_id, booking_id)
        assert booking is not None
    api_bookings.labels(op="update", outcome="updated").inc()
    return booking


async def _update_guest(conn: Conn, client_id: uuid.UUID, g: GuestPatch, writer: Writer) -> None:
    name = _guest_name(g.name, g.name_kana) if g.name is not None else None
    kana = name.name_kana if name is not None else None
    if name is None and g.name_kana is not None:
        # A new reading alone: kept as the PMS keeps one, in full-width katakana.
        kana = _guest_name(g.name_kana, g.name_kana).name_kana
    await conn.execute(
        query("api_booking_client_update"),
        {
            "client_id": client_id,
            "name": name.name if name else None,
            "name_kana": kana,
            "name_kanji": name.name_kanji if name else None,
            "email": g.email,
            "phone": g.phone,
            "user_id": writer.user_id,
        },
    )


class Stay(msgspec.Struct, frozen=True):
    """The booking whose nights a change writes, and who writes them."""

    hotel_id: int
    booking_id: uuid.UUID
    client_id: uuid.UUID
    guests: int
    writer: Writer


def _spans(dates: list[date]) -> list[tuple[date, date]]:
    """Consecutive dates as [first, end) spans."""
    spans: list[tuple[date, date]] = []
    for d in sorted(dates):
        if spans and spans[-1][1] == d:
            spans[-1] = (spans[-1][0], d + timedelta(days=1))
        else:
            spans.append((d, d + timedelta(days=1)))
    return spans


async def _change_nights(conn: Conn, stay: Stay, check_in: date, check_out: date) -> None:
    """The booking's nights from today on made [check_in, check_out): nights it no longer has
    are removed, new ones are added in the guest's room on the booking's plan, under those
    nights' locks. Nights before today (a stay under way) are history, billed as they are."""
    nights = conn.cursor(row_factory=class_row(Night))
    await nights.execute(
        query("api_booking_current_nights"), {"hotel_id": stay.hotel_id, "id": stay.booking_id}
    )
    current = await nights.fetchall()
    type_id = current[0].room_type_id if current else None
    if type_id is None:
        raise refused.NoRoomToRecheck("the booking has no room to re-check against")
    today = stay.writer.today
    wanted = set(nights_of(check_in, check_out))
    held = {n.night for n in current if n.night >= today}
    kept = [n for n in current if n.night in wanted]
    added = sorted(wanted - held)
    types = conn.cursor(row_factory=class_row(RoomType))
    await types.execute(
        query("api_booking_room_type"), {"hotel_id": stay.hotel_id, "room_type_id": type_id}
    )
    found = await types.fetchone()
    assert found is not None  # one row always, NULLs for a type that is gone
    if found.type_id is None:
        raise _no_room_type(stay.hotel_id, type_id)
    staying = [n for n in kept if n.night >= today]
    room_capacity = min((n.capacity or 0 for n in staying), default=found.max_capacity or 0)
    if stay.guests > room_capacity:
        raise _over_capacity(stay.guests, room_capacity)
    await conn.execute(
        query("api_booking_nights_delete"),
        {
            "hotel_id": stay.hotel_id,
            "reservation_id": stay.booking_id,
            "dates": sorted(held - wanted),
        },
    )
    await conn.execute(
        query("api_booking_guests_update"),
        {
            "hotel_id": stay.hotel_id,
            "reservation_id": stay.booking_id,
            "from_date": today,
            "people": stay.guests,
            "user_id": stay.writer.user_id,
        },
    )
    if not added:
        return
    # The nearest night's plan and room: the plan the stay is sold on, the room the guest has.
    nearest = min(current, key=lambda n: abs((n.night - added[0]).days))
    plan = await _plan_for(conn, stay, nearest, added[0], added[-1] + timedelta(days=1))
    await conn.execute(
        query("api_booking_lock"),
        {
            "hotel_id": stay.hotel_id,
            "room_type_id": type_id,
            "check_in": added[0],
            "check_out": added[-1] + timedelta(days=1),
        },
    )
    # The guest's room: the one of the nights kept, or of the nights spent (a stay under way
    # that ends today and goes on), nearest the new nights. Only a stay moved wholly to other
    # dates, not yet begun, may take another room, its own first.
    anchored = kept or [n for n in current if n.night < today]
    if anchored:
        nearest = min(anchored, key=lambda n: abs((n.night - added[0]).days))
    room = nearest.room_id
    cur = conn.cursor(row_factory=dict_row)
    for first, end in _spans(added):
        await cur.execute(
            query("api_booking_free_room"),
            {
                "hotel_id": stay.hotel_id,
                "room_type_id": type_id,
                "check_in": first,
                "check_out": end,
                "people": stay.guests,
                "exclude": stay.booking_id,
                "preferred": room,
            },
        )
        free = await cur.fetchone()
        placed = free["room_id"] if free else None
        if placed is None or (anchored and placed != room):
            # The guest stays in one room: a change the room cannot take is refused.
            api_bookings.labels(op="update", outcome="conflict").inc()
            await cur.execute(
                query("api_booking_rooms_left"),
                {"hotel_id": stay.hotel_id, "check_in": check_in, "check_out": check_out},
            )
            left = await cur.fetchone()
            assert left is not None
            raise _conflict(type_id, _decode_left(left["rooms_left"]))
        room = placed
        await conn.execute(
            query("api_booking_write_nights"),
            {
                "hotel_id": stay.hotel_id,
                "reservation_id": stay.booking_id,
                "client_id": stay.client_id,
                "room_id": placed,
                "plans_global_id": plan.plans_global_id,
                "plan_id": plan.plan_id,
                "plan_name": plan.name,
                "plan_type": plan.plan_type,
                "people": stay.guests,
                "check_in": first,
                "check_out": end,
                "user_id": stay.writer.user_id,
            },
        )


async def _plan_for(conn: Conn, stay: Stay, night: Night, first: date, end: date) -> Plan:
    """The booking's plan, if the hotel still sells it with a rate on every new night."""
    plans = conn.cursor(row_factory=class_row(Plan))
    plan_key = f"{night.plans_global_id or ''}h{night.plans_hotel_id or ''}"
    await plans.execute(
        query("api_booking_stay_plan"),
        {
            "hotel_id": stay.hotel_id,
            "plan_id": None,
            "plan_key": plan_key,
            "check_in": first,
            "check_out": end,
        },
    )
    plan = await plans.fetchone()
    if plan is None:
        raise _unknown_plan(plan_key)
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        query("api_booking_unpriced_nights"),
        {
            "hotel_id": stay.hotel_id,
            "plans_global_id": plan.plans_global_id,
            "plan_id": plan.plan_id,
            "check_in": first,
            "check_out": end,
        },
    )
    unpriced = [row["night"] for row in await cur.fetchall()]
    if unpriced:
        raise _unpriced(unpriced)
    return plan


async def _echo(conn: Conn, hotel_id: int, booking_id: uuid.UUID) -> None:
    await conn.execute(
        query("api_booking_sync_echo"),
        {"hotel_id": hotel_id, "booking_id": booking_id, "booking_engine_id": None, "op": "update"},
    )


class Cancelled(msgspec.Struct, tag="cancelled", tag_field="outcome"):
    booking: Booking


class NotWeb(msgspec.Struct, tag="not_web", tag_field="outcome"):
    """The booking was not made through the booking engine."""


class NoBooking(msgspec.Struct, tag="not_found", tag_field="outcome"):
    """The hotel has no such booking."""


class Begun(msgspec.Struct, tag="begun", tag_field="outcome"):
    """The stay has begun: its nights spent are billed."""


_decode_cancelled = msgspec.json.Decoder(Cancelled | NotWeb | NoBooking | Begun).decode


async def cancel(
    pool: AsyncConnectionPool[Any],
    hotel_id: int,
    booking_id: uuid.UUID,
    writer: Writer,
    fee_nights: int = 0,
) -> Booking:
    """Cancels as the PMS does (status, and each night cancelled and not billable); the first
    fee_nights nights stay billable at their cancellation-fee rates. Twice is a no-op. A stay
    that has begun is not cancelled: its nights spent are billed, and it ends early by a
    change of check_out. One statement (pms_bridge.api_booking_cancel), its own transaction,
    as a new booking's."""
    params = {
        "hotel_id": hotel_id,
        "id": booking_id,
        "fee_nights": fee_nights,
        "user_id": writer.user_id,
        "today": writer.today,
    }
    async with pool.connection() as conn:
        assert conn.autocommit, "the booking write needs an autocommit connection"
        found = await _json_of(conn, "api_booking_cancel", params)
        assert found is not None
    outcome: Cancelled | NotWeb | NoBooking | Begun = _decode_cancelled(found)
    if isinstance(outcome, NoBooking):
        raise refused.NotFound(f"booking {booking_id} not found")
    if isinstance(outcome, NotWeb):
        raise _not_web()
    if isinstance(outcome, Begun):
        raise refused.InvalidStay(
            "the stay has begun: it cannot be cancelled; end it early with check_out"
        )
    api_bookings.labels(op="cancel", outcome="cancelled").inc()
    return outcome.booking


async def get(pool: AsyncConnectionPool[Any], hotel_id: int, booking_id: uuid.UUID) -> Booking:
    async with pool.connection() as conn:
        booking = await read_booking(conn, hotel_id, booking_id)
    if booking is None:
        raise refused.NotFound(f"booking {booking_id} not found")
    return booking
