"""What a booking write refuses, as domain errors; the API's edge (api/errors.py) gives each
its HTTP status and error code."""

from __future__ import annotations

from typing import Any, ClassVar

from bridge import errors as kinds


class BookingError(kinds.Refused):
    """A booking call refused; nothing was written. Each refusal is also a kind of
    bridge.errors (its status) and carries its own error code."""

    code: ClassVar[str]

    def __init__(self, detail: str | dict[str, Any]) -> None:
        super().__init__(self.code, detail)


class InvalidStay(BookingError, kinds.Unprocessable):
    """The stay's dates break a rule every write enforces."""

    code = "invalid_stay"


class NotFound(BookingError, kinds.NotFound):
    """The hotel has no such booking, or no such room type."""

    code = "not_found"


class NotAvailable(BookingError, kinds.Conflict):
    """No one room of the type is free for every night asked for."""

    code = "not_available"


class OverCapacity(BookingError, kinds.Unprocessable):
    """More guests than the room type (or the guest's room) takes."""

    code = "over_capacity"


class UnknownPlan(BookingError, kinds.Unprocessable):
    """No plan of the hotel, or not the one asked for, is sold for every night."""

    code = "unknown_plan"


class Unpriced(BookingError, kinds.Unprocessable):
    """The plan has no rate on some nights: they are not for sale."""

    code = "unpriced"


class InvalidName(BookingError, kinds.Unprocessable):
    """The guest's name cannot be written as the PMS keeps names."""

    code = "invalid_name"


class UnknownPaymentType(BookingError, kinds.Unprocessable):
    """The prepayment names a payment type the PMS does not have."""

    code = "unknown_payment_type"


class PrepaidOverTotal(BookingError, kinds.Unprocessable):
    """The prepayment exceeds the booking's total."""

    code = "prepaid_over_total"


class KeyReused(BookingError, kinds.Unprocessable):
    """An Idempotency-Key already claimed with another request body."""

    code = "idempotency_key_reused"


class KeyBookingGone(BookingError, kinds.Conflict):
    """The booking an Idempotency-Key made no longer exists."""

    code = "conflict"


class NotAWebBooking(BookingError, kinds.Conflict):
    """Only bookings made through the booking engine change here."""

    code = "not_a_web_booking"


class BookingCancelled(BookingError, kinds.Conflict):
    """A cancelled booking cannot change."""

    code = "booking_cancelled"


class NoRoomToRecheck(BookingError, kinds.Conflict):
    """The booking has no night in a room whose type a change could be checked against."""

    code = "no_room_type"
