"""Request and response bodies of the booking-engine API: msgspec Structs with bounded sizes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from msgspec import Meta

Id = Annotated[int, Meta(ge=1, le=2_147_483_647)]
Guests = Annotated[int, Meta(ge=1, le=50)]
# Text goes into PMS columns and onto registration cards: no control characters (PostgreSQL
# refuses NUL outright), and a name has something besides spaces. A comment may span lines.
# msgspec searches with Python's re, whose `$` also matches before a final newline: `(?!\n)`
# makes it the end (and reads the same in the OpenAPI document's ECMA dialect).
# Nor, in a name, the invisible characters that make one name look like another or reorder
# what staff read: zero-width spaces and joiners, bidi marks, embeddings, overrides and
# isolates, word joiners and the byte-order mark.
_NOT_IN_NAME = r"\x00-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
Name = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=200,
        pattern=rf"^[^{_NOT_IN_NAME}]*[^\s{_NOT_IN_NAME}][^{_NOT_IN_NAME}]*$(?!\n)",
    ),
]
Email = Annotated[
    str,
    Meta(
        min_length=3, max_length=254, pattern=r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+$(?!\n)"
    ),
]
Phone = Annotated[str, Meta(min_length=3, max_length=40, pattern=r"^[0-9+()\- .]+$(?!\n)")]
Comment = Annotated[str, Meta(max_length=2000, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$")]
ExternalId = Annotated[
    str, Meta(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$(?!\n)")
]
PaymentTiming = Literal["not_set", "prepaid", "on-site", "postpaid"]
Gender = Literal["male", "female", "other"]
Person = Literal["natural", "legal"]
# The PMS's plan key: "<global plan>h<hotel plan>", "h<hotel plan>" or "<global plan>h".
PLAN_KEY_PATTERN = r"^([0-9]{1,10}h[0-9]{0,10}|h[0-9]{1,10})$"
PlanKey = Annotated[str, Meta(max_length=24, pattern=PLAN_KEY_PATTERN)]
# Yen, as the PMS stores money (numeric); a payment is more than nothing.
Yen = Annotated[int, Meta(ge=1, le=100_000_000)]


class Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base for every input: a field the API does not know is an error, not silently dropped."""


# --- bookings ---------------------------------------------------------------------------


class GuestIn(Strict):
    """The booker. The name is split by script as the PMS splits it (api/names.py): kanji
    into name_kanji, kana into name_kana, the romaji or Latin form into name."""

    name: Name
    name_kana: Name | None = None
    email: Email | None = None
    phone: Phone | None = None
    gender: Gender = "other"
    legal_or_natural_person: Person = "natural"


class GuestPatch(Strict):
    name: Name | None = None
    name_kana: Name | None = None
    email: Email | None = None
    phone: Phone | None = None


class Prepayment(Strict):
    """What the booking engine has already taken from the guest, recorded in the PMS as a
    reservation_payments row (payment_type_id: the PMS's payment_types, 4 = credit card)."""

    amount: Yen
    payment_type_id: Id = 4
    comment: Comment | None = None


class BookingCreate(Strict):
    hotel_id: Id
    room_type_id: Id
    check_in: date
    check_out: date
    guests: Guests
    guest: GuestIn
    # The plan: a hotel plan by id, any plan the hotel sells by the PMS's key, or the hotel's
    # first plan for the stay when neither is given.
    plan_id: Id | None = None
    plan_key: PlanKey | None = None
    payment_timing: PaymentTiming = "not_set"
    comment: Comment | None = None
    booking_engine_id: ExternalId | None = None
    # The channel, as reservations.agent; BRIDGE_PMS_AGENT when not given.
    agent: ExternalId | None = None
    prepayment: Prepayment | None = None


class BookingUpdate(Strict):
    check_in: date | None = None
    check_out: date | None = None
    guests: Guests | None = None
    guest: GuestPatch | None = None
    comment: Comment | None = None


class GuestOut(msgspec.Struct):
    client_id: UUID
    name: str
    name_kana: str | None
    name_kanji: str | None
    email: str | None
    phone: str | None


class BookedNight(msgspec.Struct):
    date: date
    room_id: int | None
    room_number: str | None
    room_type_id: int | None
    plan_id: int | None
    plans_global_id: int | None
    plan_name: str | None
    plan_type: str | None
    guests: int
    # As the PMS stores it: per room, or per guest on a per-person plan.
    price: float
    # What the PMS bills for the night: price (times guests per person) plus add-ons; 0 when
    # the night is not billable.
    amount: float
    billable: bool
    cancelled: bool


class SyncInfo(msgspec.Struct):
    booking_engine_id: str | None
    sync_status: str | None
    last_sync_attempt: datetime | None
    error_message: str | None


class Booking(msgspec.Struct):
    booking_id: UUID
    hotel_id: int
    status: str
    type: str
    check_in: date
    check_out: date
    guests: int
    payment_timing: str | None
    comment: str | None
    agent: str | None
    guest: GuestOut
    nights: list[BookedNight]
    total_price: float
    prepaid: float
    sync: SyncInfo
    created_at: datetime | None
    updated_at: datetime | None


class NightAvailable(msgspec.Struct):
    date: date
    available: int


class RoomTypeLeft(msgspec.Struct):
    room_type_id: int
    nights: list[NightAvailable]
    free_every_night: bool


class ConflictDetail(msgspec.Struct):
    message: str
    room_type_id: int
    nights: list[NightAvailable]
    still_available: list[RoomTypeLeft]


class FieldError(msgspec.Struct):
    """What a 400 validation_failed lists: the message, the field's path, body or query."""

    message: str
    key: str
    source: str


class ErrorBody(msgspec.Struct):
    """Every error answer: a short code, and a sentence, the fields that failed validation
    (400 validation_failed) or what is still free (409 not_available)."""

    error: str
    detail: str | list[FieldError] | ConflictDetail | None = None


# --- authentication ---------------------------------------------------------------------


class TokenRequest(Strict):
    grant_type: Literal["api_key", "refresh_token"] = "api_key"
    api_key: Annotated[str, Meta(min_length=1, max_length=200)] | None = None
    refresh_token: Annotated[str, Meta(min_length=1, max_length=200)] | None = None


class TokenResponse(msgspec.Struct):
    access_token: str
    token_type: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
    scope: str


class ValidateRequest(Strict):
    token: Annotated[str, Meta(min_length=1, max_length=4096)]


class Identity(msgspec.Struct):
    user_id: str
    key_id: str
    hotel_id: int
    scopes: list[str]
    authenticated_with: str
    expires_at: datetime | None = None


class ValidateResponse(msgspec.Struct):
    valid: bool
    identity: Identity


# --- cache administration ----------------------------------------------------------------


class CacheUpdateRequest(Strict):
    hotel_id: Id | None = None


class RefreshAvailabilityRequest(Strict):
    hotel_id: Id
    start_date: date
    end_date: date
    room_type_id: Id | None = None


# --- queries (validated as Structs so unknown parameters are refused too) -----------------


class AvailabilityQuery(Strict):
    start_date: date
    end_date: date
    room_type_id: Id | None = None
    plan_id: Id | None = None
    plan_key: PlanKey | None = None


class PricingQuery(Strict):
    start_date: date | None = None
    end_date: date | None = None
    plan_id: Id | None = None
    plan_key: PlanKey | None = None


# The longest stay a write takes (api/bookings.py check_stay).
MAX_NIGHTS = 30


class CancelQuery(Strict):
    fee_nights: Annotated[int, Meta(ge=0, le=MAX_NIGHTS)] = 0


class StatusQuery(Strict):
    hotel_id: Id | None = None


# --- catalog -------------------------------------------------------------------------------


class HotelOut(msgspec.Struct):
    hotel_id: int
    name: str
    formal_name: str | None
    facility_type: str | None
    open_date: date | None
    total_rooms: int | None
    postal_code: str | None
    address: str | None
    email: str | None
    phone_number: str | None
    latitude: float | None
    longitude: float | None
    sort_order: int | None


class HotelsResponse(msgspec.Struct):
    hotels: list[HotelOut]


class RoomTypeOut(msgspec.Struct):
    room_type_id: int
    name: str
    description: str | None
    sellable_rooms: int
    max_capacity: int


class RoomTypesResponse(msgspec.Struct):
    hotel_id: int
    room_types: list[RoomTypeOut]


class AmenityOut(msgspec.Struct):
    amenity_id: int
    name: str
    category: str | None
    description: str | None
    icon: str | None
    sort_order: int


class AmenitiesResponse(msgspec.Struct):
    hotel_id: int
    amenities: list[AmenityOut]


class ImageOut(msgspec.Struct):
    image_id: int
    url: str
    caption: str | None
    sort_order: int
    is_primary: bool


class ImagesResponse(msgspec.Struct):
    hotel_id: int
    images: list[ImageOut]


class PlanOut(msgspec.Struct):
    plan_key: str
    plan_id: int | None
    plans_global_id: int | None
    name: str
    plan_type: str | None


class PlansResponse(msgspec.Struct):
    hotel_id: int
    plans: list[PlanOut]


class PriceNight(msgspec.Struct):
    date: date
    price: float


class PlanPricing(msgspec.Struct):
    plan_key: str
    plan_id: int | None
    plans_global_id: int | None
    name: str
    plan_type: str | None
    nights: list[PriceNight]


class PricingResponse(msgspec.Struct):
    hotel_id: int
    start_date: date
    end_date: date
    plans: list[PlanPricing]


class NightOut(msgspec.Struct):
    date: date
    available: int
    sellable: int
    taken: int
    overbooked: int
    price: float | None = None


class RoomTypeNights(msgspec.Struct):
    room_type_id: int
    nights: list[NightOut]


class AvailabilityResponse(msgspec.Struct):
    hotel_id: int
    start_date: date
    end_date: date
    stale: bool
    plan_id: int | None
    plan_key: str | None
    room_types: list[RoomTypeNights]


# --- admin: the dead-letter tools ----------------------------------------------------------

Listed = Annotated[int, Meta(ge=1, le=1000)]


class DeadLetterQuery(Strict):
    """Parked changes or failed deliveries of one hotel (an operator's key: all without it)."""

    hotel_id: Id | None = None
    limit: Listed = 100


class DeliveryRetryRequest(Strict):
    """Failed deliveries back to pending: the hotel's (every hotel's for an operator's key
    without hotel_id), or one reservation's (its pending events made due now too)."""

    hotel_id: Id | None = None
    booking_id: UUID | None = None


class ResendRequest(Strict):
    """Every reservation of the hotel told again; with `since`, those whose check_out is on or
    after it."""

    hotel_id: Id
    since: date | None = None


class Requeued(msgspec.Struct):
    queued: int
