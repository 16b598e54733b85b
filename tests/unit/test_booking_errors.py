"""Every refusal of the booking service has its answer at the API's edge, and keeps its detail."""

from __future__ import annotations

from api import booking_errors
from api.errors import BOOKING_ANSWERS, booking_answer


def refusals() -> list[type[booking_errors.BookingError]]:
    found, pending = [], [booking_errors.BookingError]
    while pending:
        for sub in pending.pop().__subclasses__():
            found.append(sub)
            pending.append(sub)
    return found


def test_every_booking_refusal_has_one_status_and_code() -> None:
    assert set(refusals()) == set(BOOKING_ANSWERS)
    for refusal in refusals():
        status, code = booking_answer(refusal("why"))
        assert status in (404, 409, 422) and code


def test_a_refusal_carries_its_detail_as_given() -> None:
    detail = {"message": "no room", "room_type_id": 2, "nights": [], "still_available": []}
    assert booking_errors.NotAvailable(detail).detail is detail
    assert booking_answer(booking_errors.NotAvailable(detail)) == (409, "not_available")
    assert booking_answer(booking_errors.KeyBookingGone("gone")) == (409, "conflict")
