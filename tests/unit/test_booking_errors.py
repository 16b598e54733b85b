"""Every refusal of the booking service is a kind of refusal with its status and its own code
at the API's edge, and keeps its detail."""

from __future__ import annotations

from api import booking_errors
from api.errors import refused_answer

# The answers booking engines are written against (docs/api.md): status and error code.
ANSWERS = {
    "InvalidStay": (422, "invalid_stay"),
    "OverCapacity": (422, "over_capacity"),
    "UnknownPlan": (422, "unknown_plan"),
    "Unpriced": (422, "unpriced"),
    "InvalidName": (422, "invalid_name"),
    "UnknownPaymentType": (422, "unknown_payment_type"),
    "PrepaidOverTotal": (422, "prepaid_over_total"),
    "KeyReused": (422, "idempotency_key_reused"),
    "NotFound": (404, "not_found"),
    "NotAvailable": (409, "not_available"),
    "KeyBookingGone": (409, "conflict"),
    "NotAWebBooking": (409, "not_a_web_booking"),
    "BookingCancelled": (409, "booking_cancelled"),
    "NoRoomToRecheck": (409, "no_room_type"),
}


def refusals() -> list[type[booking_errors.BookingError]]:
    found, pending = [], [booking_errors.BookingError]
    while pending:
        for sub in pending.pop().__subclasses__():
            found.append(sub)
            pending.append(sub)
    return found


def test_every_booking_refusal_has_its_status_and_code() -> None:
    answers = {refusal.__name__: refused_answer(refusal("why")) for refusal in refusals()}
    assert answers == ANSWERS


def test_a_refusal_carries_its_detail_as_given() -> None:
    detail = {"message": "no room", "room_type_id": 2, "nights": [], "still_available": []}
    assert booking_errors.NotAvailable(detail).detail is detail
    assert refused_answer(booking_errors.NotAvailable(detail)) == (409, "not_available")
    assert refused_answer(booking_errors.KeyBookingGone("gone")) == (409, "conflict")
