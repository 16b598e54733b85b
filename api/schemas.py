"""Request and response bodies of the booking-engine API: msgspec Structs with bounded sizes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from msgspec import Meta

Id = Annotated[int, Meta(ge=1, le=2_147_483_647)]
Guests = Annotated[int, Meta(ge=1, le=50)]
Name = Annotated[str, Meta(min_length=1, max_length=200)]
Email = Annotated[str, Meta(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]
Phone = Annotated[str, Meta(min_length=3, max_length=40, pattern=r"^[0-9+()\- .]+$")]
Comment = Annotated[str, Meta(max_length=2000)]
ExternalId = Annotated[str, Meta(min_length=1, max_length=100)]
PaymentTiming = Literal["not_set", "prepaid", "on-site", "postpaid"]


class Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base for every input: a field the API does not know is an error, not silently dropped."""


class ErrorBody(msgspec.Struct):
    error: str
    detail: Any = None


# --- bookings ---------------------------------------------------------------------------


class GuestIn(Strict):
    name: Name
    name_kana: Name | None = None
    email: Email | None = None
    phone: Phone | None = None


class GuestPatch(Strict):
    name: Name | None = None
    name_kana: Name | None = None
    email: Email | None = None
    phone: Phone | None = None


class BookingCreate(Strict):
    hotel_id: Id
    room_type_id: Id
    check_in: date
    check_out: date
    guests: Guests
    guest: GuestIn
    plan_id: Id | None = None
    payment_timing: PaymentTiming = "not_set"
    comment: Comment | None = None
    booking_engine_id: ExternalId | None = None


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
    email: str | None
    phone: str | None


class BookedNight(msgspec.Struct):
    date: date
    room_id: int | None
    room_number: str | None
    room_type_id: int | None
    plan_id: int | None
    plan_name: str | None
    guests: int
    price: float
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
    guest: GuestOut
    nights: list[BookedNight]
    total_price: float
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
