"""What a booking write refuses, as domain errors; the API's edge (api/errors.py) gives each
its HTTP status and error code."""

from __future__ import annotations

from typing import Any


class BookingError(Exception):
    """A booking call refused; nothing was written. `detail` is what the caller is told: a
    sentence, or a JSON-able object (a refused stay's rooms still free)."""

    def __init__(self, detail: str | dict[str, Any]) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidStay(BookingError):
    """The stay's dates break a rule every write enforces."""


class NotFound(BookingError):
    """The hotel has no such booking, or no such room type."""


class NotAvailable(BookingError):
    """No one room of the type is free for every night asked for."""


class OverCapacity(BookingError):
    """More guests than the room type (or the guest's room) takes."""


class UnknownPlan(BookingError):
    """No plan of the hotel, or not the one asked for, is sold for every night."""


class Unpriced(BookingError):
    """The plan has no rate on some nights: they are not for sale."""


class InvalidName(BookingError):
    """The guest's name cannot be written as the PMS keeps names."""


class UnknownPaymentType(BookingError):
    """The prepayment names a payment type the PMS does not have."""


class PrepaidOverTotal(BookingError):
    """The prepayment exceeds the booking's total."""


class KeyReused(BookingError):
    """An Idempotency-Key already claimed with another request body."""


class KeyBookingGone(BookingError):
    """The booking an Idempotency-Key made no longer exists."""


class NotAWebBooking(BookingError):
    """Only bookings made through the booking engine change here."""


class BookingCancelled(BookingError):
    """A cancelled booking cannot change."""


class NoRoomToRecheck(BookingError):
    """The booking has no night in a room whose type a change could be checked against."""
