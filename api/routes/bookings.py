"""POST/GET/PUT/DELETE /bookings: booking writes into the PMS, idempotent creation."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Request, Response, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter

from api import booking_errors, bookings
from api.auth.guard import Principal, same_hotel
from api.call import call_of
from api.context import ApiContext, booking_pool_of
from api.openapi import Documented
from api.paths import PREFIX
from api.routes.common import BODY, OPT, errors, note, parse_query
from api.schemas import MAX_NIGHTS, Booking, BookingCreate, BookingUpdate, CancelQuery

IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Same key and body: the first response again; same key, other body: 422",
    ),
]


FeeNights = Annotated[
    int | None,
    QueryParameter(
        ge=0,
        le=MAX_NIGHTS,
        description="The first n nights stay billable at their cancellation-fee rates",
        # Litestar leaves a bound of 0 out of the document.
        schema_extra={"minimum": 0, "default": 0},
    ),
]


def _writer(ctx: ApiContext, hotel_id: int) -> bookings.Writer:
    return bookings.Writer(
        ctx.settings.pms_user_id, ctx.settings.pms_agent, ctx.clock.today(hotel_id)
    )


def _summary(b: Booking) -> dict[str, Any]:
    return {
        "status": b.status,
        "check_in": b.check_in,
        "check_out": b.check_out,
        "nights": len(b.nights),
        "total_price": b.total_price,
    }


@post(
    f"{PREFIX}/bookings",
    tags=["bookings"],
    operation_id="createBooking",
    operation_class=Documented,
    status_code=201,
    opt=OPT("book"),
    responses=errors(*BODY, 404, 409, 422),
    summary="Create a booking",
)
async def create_booking(
    request: Request[Any, Any, Any],
    ctx: NamedDependency[ApiContext],
    principal: NamedDependency[Principal],
    data: JSONBody[BookingCreate],
    idempotency_key: IdempotencyKey = None,
) -> Response[Booking]:
    """Guest, web reservation and one night row each, with a room free for the whole stay."""
    note(
        request,
        "booking.create",
        "booking",
        None,
        {
            "hotel_id": data.hotel_id,
            "room_type_id": data.room_type_id,
            "check_in": data.check_in,
            "check_out": data.check_out,
            "guests": data.guests,
            "plan_id": data.plan_id,
            "plan_key": data.plan_key,
            "prepaid": data.prepayment is not None,
            "idempotency_key": idempotency_key is not None,
        },
    )
    same_hotel(principal, data.hotel_id)
    pool = booking_pool_of(ctx)
    idem = None
    if idempotency_key is not None:
        idem = (idempotency_key, bookings.request_hash(msgspec.json.encode(data)))
    try:
        bookings.check_stay(data.check_in, data.check_out, ctx.clock.today(data.hotel_id))
    except booking_errors.InvalidStay:
        # A retry that arrives once the stay has begun still gets the booking it made.
        replay = None if idem is None else await bookings.earlier(pool, principal.key_pk, idem)
        if replay is None:
            raise
        outcome = replay
    else:
        outcome = await bookings.create(
            pool, principal.key_pk, data, idem, _writer(ctx, data.hotel_id)
        )
    booking = outcome.booking
    note(
        request,
        "booking.create",
        "booking",
        str(booking.booking_id),
        request_summary(request),
        _summary(booking),
    )
    return Response(booking, status_code=outcome.status_code)


def request_summary(request: Request[Any, Any, Any]) -> dict[str, Any]:
    audit = call_of(request.scope).audit
    assert audit is not None
    return audit.request


@get(
    f"{PREFIX}/bookings/{{booking_id:uuid}}",
    tags=["bookings"],
    operation_id="getBooking",
    operation_class=Documented,
    opt=OPT("read"),
    responses=errors(404),
    summary="Get a booking with its nights and sync status",
)
async def get_booking(
    request: Request[Any, Any, Any],
    ctx: NamedDependency[ApiContext],
    principal: NamedDependency[Principal],
    booking_id: FromPath[UUID],
) -> Booking:
    note(request, "booking.read", "booking", str(booking_id))
    return await bookings.get(booking_pool_of(ctx), principal.hotel_id, booking_id)


@put(
    f"{PREFIX}/bookings/{{booking_id:uuid}}",
    tags=["bookings"],
    operation_id="updateBooking",
    operation_class=Documented,
    opt=OPT("book"),
    responses=errors(*BODY, 404, 409, 422),
    summary="Change dates, guests or guest details",
)
async def update_booking(
    request: Request[Any, Any, Any],
    ctx: NamedDependency[ApiContext],
    principal: NamedDependency[Principal],
    booking_id: FromPath[UUID],
    data: JSONBody[BookingUpdate],
) -> Booking:
    note(
        request,
        "booking.update",
        "booking",
        str(booking_id),
        {
            "check_in": data.check_in,
            "check_out": data.check_out,
            "guests": data.guests,
            "guest_changed": data.guest is not None,
        },
    )
    booking = await bookings.update(
        booking_pool_of(ctx),
        principal.hotel_id,
        booking_id,
        data,
        _writer(ctx, principal.hotel_id),
    )
    note(
        request,
        "booking.update",
        "booking",
        str(booking_id),
        request_summary(request),
        _summary(booking),
    )
    return booking


@delete(
    f"{PREFIX}/bookings/{{booking_id:uuid}}",
    tags=["bookings"],
    operation_id="cancelBooking",
    operation_class=Documented,
    status_code=200,
    opt=OPT("book", query=True),
    responses=errors(404, 409),
    summary="Cancel a booking, with a cancellation fee on its first fee_nights nights",
)
async def cancel_booking(
    request: Request[Any, Any, Any],
    ctx: NamedDependency[ApiContext],
    principal: NamedDependency[Principal],
    booking_id: FromPath[UUID],
    fee_nights: FeeNights = None,
) -> Booking:
    q = parse_query(request, CancelQuery)
    note(request, "booking.cancel", "booking", str(booking_id), {"fee_nights": q.fee_nights})
    booking = await bookings.cancel(
        booking_pool_of(ctx),
        principal.hotel_id,
        booking_id,
        _writer(ctx, principal.hotel_id),
        q.fee_nights,
    )
    note(
        request,
        "booking.cancel",
        "booking",
        str(booking_id),
        {"fee_nights": q.fee_nights},
        _summary(booking),
    )
    return booking


ROUTES = [create_booking, get_booking, update_booking, cancel_booking]
