"""The OpenAPI document's shape, built without a server: short operation ids and a tag per
resource, required fields exactly those without a default, security and headers per call."""

from __future__ import annotations

import re
from typing import Any

import msgspec
import pytest

from api import schemas
from api.app import create_app
from api.context import ApiContext
from api.openapi import document
from bridge.cache.memory import MemoryCache
from bridge.config import Settings

PREFIX = "/api/booking-engine"
CALLER = [{"bearer": []}, {"apiKey": []}]
IDS = {
    ("get", "/availability/{hotel_id}"): ("getAvailability", "availability"),
    ("get", "/hotels"): ("listHotels", "hotels"),
    ("get", "/hotels/{hotel_id}"): ("getHotel", "hotels"),
    ("get", "/hotels/{hotel_id}/images"): ("listHotelImages", "hotels"),
    ("get", "/hotels/{hotel_id}/pricing"): ("getPricing", "pricing"),
    ("get", "/room-types/{hotel_id}"): ("listRoomTypes", "room-types"),
    ("get", "/amenities/{hotel_id}"): ("listAmenities", "amenities"),
    ("get", "/plans/{hotel_id}"): ("listPlans", "plans"),
    ("post", "/bookings"): ("createBooking", "bookings"),
    ("get", "/bookings/{booking_id}"): ("getBooking", "bookings"),
    ("put", "/bookings/{booking_id}"): ("updateBooking", "bookings"),
    ("delete", "/bookings/{booking_id}"): ("cancelBooking", "bookings"),
    ("post", "/auth/token"): ("createToken", "auth"),
    ("post", "/auth/validate-token"): ("validateToken", "auth"),
    ("get", "/auth/user/{user_id}"): ("getUser", "auth"),
    ("post", "/cache/update-hotels"): ("updateHotelCache", "cache"),
    ("post", "/cache/update-room-types"): ("updateRoomTypeCache", "cache"),
    ("post", "/cache/refresh-availability"): ("refreshAvailability", "cache"),
    ("get", "/cache/status"): ("getCacheStatus", "cache"),
}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return document(create_app(ApiContext(Settings(), MemoryCache())))


def _operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): op
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in ("get", "post", "put", "delete")
    }


def test_every_operation_has_a_short_id_a_tag_and_its_security(doc: dict[str, Any]) -> None:
    operations = _operations(doc)
    ids = [op["operationId"] for op in operations.values()]
    assert len(set(ids)) == len(ids)
    assert [i for i in ids if not re.fullmatch(r"[a-z]+(?:[A-Z][a-z]+)*", i)] == []
    assert all(len(op["tags"]) == 1 and "security" in op for op in operations.values())
    for (method, path), (op_id, tag) in IDS.items():
        op = operations[(method, PREFIX + path)]
        assert (op["operationId"], op["tags"]) == (op_id, [tag])
        public = path.startswith("/auth/") and method == "post"
        assert op["security"] == ([{}] if public else CALLER)


def _struct_schemas(doc: dict[str, Any]) -> list[tuple[type[msgspec.Struct], dict[str, Any]]]:
    found = []
    for value in vars(schemas).values():
        if isinstance(value, type) and issubclass(value, msgspec.Struct):
            schema = doc["components"]["schemas"].get(value.__name__)
            if schema is not None:
                found.append((value, schema))
    return found


def test_a_field_with_a_default_is_optional_in_a_request_and_present_in_an_answer(
    doc: dict[str, Any],
) -> None:
    checked = []
    for struct, schema in _struct_schemas(doc):
        fields = msgspec.structs.fields(struct)
        if issubclass(struct, schemas.Strict):
            without_default = sorted(
                f.encode_name
                for f in fields
                if f.default is msgspec.NODEFAULT and f.default_factory is msgspec.NODEFAULT
            )
            assert sorted(schema.get("required", [])) == without_default, struct.__name__
            assert schema["additionalProperties"] is False
        else:
            # msgspec encodes every field of an answer, defaults included.
            assert sorted(schema["required"]) == sorted(f.encode_name for f in fields)
        checked.append(struct.__name__)
    assert {"BookingCreate", "GuestIn", "Prepayment", "TokenRequest", "Booking"} <= set(checked)
    create = doc["components"]["schemas"]["BookingCreate"]
    assert "payment_timing" not in create["required"]
    assert create["properties"]["payment_timing"]["default"] == "not_set"
    assert create["properties"]["check_in"]["format"] == "date"
    assert {"type": "null"} in create["properties"]["comment"]["oneOf"]


def test_headers_error_bodies_and_parameters_are_stated(doc: dict[str, Any]) -> None:
    operations = _operations(doc)
    create = operations[("post", f"{PREFIX}/bookings")]
    header = create["parameters"][0]
    assert (header["name"], header["in"]) == ("Idempotency-Key", "header")
    assert header["required"] is False
    assert header["schema"]["type"] == "string"  # absent, never null
    answers = create["responses"]
    assert sorted(answers) == sorted(
        ["201", "400", "401", "403", "404", "409", "413", "415", "422", "429", "503"]
    )
    for code, answer in answers.items():
        headers = answer["headers"]
        assert {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= set(headers)
        if code != "201":
            body = answer["content"]["application/json"]["schema"]
            assert body == {"$ref": "#/components/schemas/ErrorBody"}
    assert answers["429"]["headers"]["Retry-After"] == {"$ref": "#/components/headers/Retry-After"}
    assert doc["components"]["headers"]["Retry-After"]["required"] is True
    assert "WWW-Authenticate" in answers["401"]["headers"]
    assert "Retry-After" in answers["503"]["headers"]
    error = doc["components"]["schemas"]["ErrorBody"]
    assert sorted(error["required"]) == ["detail", "error"]
    booking_id = operations[("get", f"{PREFIX}/bookings/{{booking_id}}")]["parameters"][0]
    assert booking_id["schema"] == {"type": "string", "format": "uuid"}
    fee = operations[("delete", f"{PREFIX}/bookings/{{booking_id}}")]["parameters"][1]
    assert (fee["schema"]["minimum"], fee["schema"]["maximum"], fee["schema"]["default"]) == (
        0,
        30,
        0,
    )
    # No generated examples: the document is the same on every build.
    assert '"examples"' not in msgspec.json.encode(doc).decode()
    assert document(create_app(ApiContext(Settings(), MemoryCache()))) == doc
