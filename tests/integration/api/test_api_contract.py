"""The OpenAPI document against the running API: for every operation, what the document
requires is what the server requires. A valid call is answered 2xx; the same call without one
optional body field, query or header parameter is still answered (a default or a rule across
fields, never 400); without one required field it is 400. A body field the document makes
nullable takes null; any other field given null is 400."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx

from bridge.cache.memory import MemoryCache
from bridge.config import Settings
from tests.support.api_server import (
    create_key,
    fill_all_but,
    room_type_with_rooms,
    running_api,
)
from tests.support.delivery import configure

PREFIX = "/api/booking-engine"
# Optional fields whose absence (or null) a rule across fields refuses (422), as the
# document says.
RULES = {("createToken", ("api_key",)): 422}


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The object schema behind a $ref, or behind oneOf [$ref, null]."""
    for variant in schema.get("oneOf", []):
        if "$ref" in variant:
            schema = variant
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        resolved: dict[str, Any] = document["components"]["schemas"][name]
        return resolved
    return schema


def _fields(
    document: dict[str, Any], schema: dict[str, Any], body: dict[str, Any], at: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], bool, bool]]:
    """Each field of the body with whether the schema requires it and whether it may be
    null, nested objects too."""
    schema = _resolve(document, schema)
    required = set(schema.get("required", []))
    for name, sub in schema.get("properties", {}).items():
        if name not in body:
            continue
        nullable = {"type": "null"} in sub.get("oneOf", [])
        yield (*at, name), name in required, nullable
        if isinstance(body[name], dict):
            yield from _fields(document, sub, body[name], (*at, name))


def _edited(body: dict[str, Any], path: tuple[str, ...], null: bool) -> dict[str, Any]:
    """The body without the field at path, or with null there."""
    edited = copy.deepcopy(body)
    parent = edited
    for name in path[:-1]:
        parent = parent[name]
    if null:
        parent[path[-1]] = None
    else:
        del parent[path[-1]]
    return edited


async def _send(http: httpx.AsyncClient, call: Call) -> httpx.Response:
    return await http.request(
        call.method,
        call.path,
        params=call.query,
        headers=call.headers,
        json=call.body,
    )


async def test_the_document_requires_what_the_server_requires(
    settings: Settings, db_url: str
) -> None:
    type_id, rooms = await room_type_with_rooms(db_url, 1)
    start = date.today() + timedelta(days=200)
    window = [start + timedelta(days=n) for n in range(100)]
    # Every room free on the nights the bookings below take, whatever the seed booked there.
    await fill_all_but(db_url, 1, type_id, window, keep=len(rooms))
    key = await create_key(db_url, 1, "admin")
    # A hotel that syncs, for the delivery routes (nothing listens there: no call delivers).
    await configure(db_url, "http://127.0.0.1:9/webhook")
    async with running_api(settings, MemoryCache()) as api, api.client(key) as http:
        document = (await http.get("/schema/openapi.json")).json()
        priced = await http.get(
            f"{PREFIX}/hotels/1/pricing",
            params={"start_date": start.isoformat(), "end_date": window[-1].isoformat()},
        )
        assert priced.status_code == 200, priced.text
        plan = next(
            p
            for p in priced.json()["plans"]
            if p["plan_id"] is not None and len(p["nights"]) == len(window) - 1
        )
        stays = iter(range(0, len(window) - 2, 2))

        def booking() -> Call:
            check_in = start + timedelta(days=next(stays))
            return Call(
                "POST",
                f"{PREFIX}/bookings",
                headers={"Idempotency-Key": str(uuid.uuid4())},
                body={
                    "hotel_id": 1,
                    "room_type_id": type_id,
                    "check_in": check_in.isoformat(),
                    "check_out": (check_in + timedelta(days=2)).isoformat(),
                    "guests": 1,
                    "guest": {
                        "name": "Contract Tester",
                        "name_kana": "コントラクト",
                        "email": "contract@example.test",
                        "phone": "+81 3 0000 0000",
                        "gender": "female",
                        "legal_or_natural_person": "natural",
                    },
                    "plan_id": plan["plan_id"],
                    "plan_key": plan["plan_key"],
                    "payment_timing": "prepaid",
                    "comment": "contract",
                    "booking_engine_id": f"contract-{uuid.uuid4()}",
                    "agent": "Contract Travel",
                    "prepayment": {"amount": 1, "payment_type_id": 4, "comment": "card"},
                },
            )

        made = await _send(http, booking())
        assert made.status_code == 201, made.text
        booked = made.json()
        at = f"{PREFIX}/bookings/{booked['booking_id']}"
        window_query = {
            "start_date": start.isoformat(),
            "end_date": (start + timedelta(days=7)).isoformat(),
            "plan_id": plan["plan_id"],
            "plan_key": plan["plan_key"],
        }
        calls: dict[str, Callable[[], Call]] = {
            "createBooking": booking,
            "updateBooking": lambda: Call(
                "PUT",
                at,
                body={
                    "check_in": booked["check_in"],
                    "check_out": booked["check_out"],
                    "guests": 1,
                    "guest": {
                        "name": "Contract Tester",
                        "name_kana": "コントラクト",
                        "email": "contract@example.test",
                        "phone": "+81 3 0000 0000",
                    },
                    "comment": "contract",
                },
            ),
            "cancelBooking": lambda: Call("DELETE", at, query={"fee_nights": 0}),
            "getAvailability": lambda: Call(
                "GET", f"{PREFIX}/availability/1", query={**window_query, "room_type_id": type_id}
            ),
            "getPricing": lambda: Call("GET", f"{PREFIX}/hotels/1/pricing", query=window_query),
            "getCacheStatus": lambda: Call("GET", f"{PREFIX}/cache/status", query={"hotel_id": 1}),
            "createToken": lambda: Call(
                "POST",
                f"{PREFIX}/auth/token",
                body={"grant_type": "api_key", "api_key": key, "refresh_token": "pmsr_unused"},
            ),
            "validateToken": lambda: Call(
                "POST", f"{PREFIX}/auth/validate-token", body={"token": key}
            ),
            "updateHotelCache": lambda: Call(
                "POST", f"{PREFIX}/cache/update-hotels", body={"hotel_id": 1}
            ),
            "updateRoomTypeCache": lambda: Call(
                "POST", f"{PREFIX}/cache/update-room-types", body={"hotel_id": 1}
            ),
            "refreshAvailability": lambda: Call(
                "POST",
                f"{PREFIX}/cache/refresh-availability",
                body={
                    "hotel_id": 1,
                    "room_type_id": type_id,
                    "start_date": start.isoformat(),
                    "end_date": (start + timedelta(days=7)).isoformat(),
                },
            ),
            "listParkedChanges": lambda: Call(
                "GET", f"{PREFIX}/admin/parked-changes", query={"hotel_id": 1, "limit": 10}
            ),
            "listFailedDeliveries": lambda: Call(
                "GET", f"{PREFIX}/admin/deliveries/failed", query={"hotel_id": 1, "limit": 10}
            ),
            "retryDeliveries": lambda: Call(
                "POST",
                f"{PREFIX}/admin/deliveries/retry",
                body={"hotel_id": 1, "booking_id": booked["booking_id"]},
            ),
            "resendBookings": lambda: Call(
                "POST",
                f"{PREFIX}/admin/deliveries/resend",
                body={"hotel_id": 1, "since": booked["check_in"]},
            ),
        }
        # A cancelled booking cannot change: the cancellation goes last.
        order = sorted(calls, key=lambda op: op == "cancelBooking")
        operations = {
            op["operationId"]: op
            for path, item in document["paths"].items()
            if path.startswith(PREFIX)
            for method, op in item.items()
            if method in ("get", "post", "put", "delete")
        }
        takes_input = {
            name
            for name, op in operations.items()
            if "requestBody" in op or any(p["in"] != "path" for p in op.get("parameters", []))
        }
        assert takes_input == set(calls), "every operation with input needs a valid call here"

        seen: dict[tuple[str, str, tuple[str, ...]], int] = {}
        for name in order:
            op, make = operations[name], calls[name]
            base = make()
            answered = await _send(http, base)
            assert answered.status_code < 300, (name, answered.text)
            # (where, field, answer the document promises, how the valid call is changed)
            variants: list[tuple[str, tuple[str, ...], int, Callable[[Call], None]]] = []
            if base.body is not None:
                schema = op["requestBody"]["content"]["application/json"]["schema"]
                assert op["requestBody"]["required"] is True
                for path, required, nullable in _fields(document, schema, base.body, ()):
                    rule = RULES.get((name, path), 200)
                    variants.append(("body", path, 400 if required else rule, _body(path, False)))
                    promised = rule if nullable else 400
                    variants.append(("null", path, promised, _body(path, True)))
            for parameter in op.get("parameters", []):
                where, param = parameter["in"], parameter["name"]
                if where == "path":
                    continue
                kept = base.query if where == "query" else base.headers
                assert param in kept, f"{name}: the valid call leaves out {where} {param}"
                promised = 400 if parameter["required"] else 200
                variants.append((where, (param,), promised, _drop(where, param)))
            for where, path, promised, change in variants:
                call = make()
                change(call)
                got = seen[(name, where, path)] = (await _send(http, call)).status_code
                assert got == promised or (promised == 200 and 200 <= got < 300), (
                    f"{name}, {where} {'.'.join(path)} left out or null: {got}, where the"
                    f" document promises {promised}"
                )
    # Both kinds were exercised: required fields refused, optional ones taken.
    assert seen[("createBooking", "body", ("guest", "name"))] == 400
    assert seen[("createBooking", "body", ("payment_timing",))] == 201
    assert seen[("createBooking", "null", ("payment_timing",))] == 400
    assert seen[("createBooking", "null", ("comment",))] == 201
    assert seen[("createBooking", "header", ("Idempotency-Key",))] == 201
    assert seen[("getAvailability", "query", ("start_date",))] == 400
    assert seen[("cancelBooking", "query", ("fee_nights",))] == 200


def _body(path: tuple[str, ...], null: bool) -> Callable[[Call], None]:
    def change(call: Call) -> None:
        assert call.body is not None
        call.body = _edited(call.body, path, null)

    return change


def _drop(where: str, name: str) -> Callable[[Call], None]:
    def drop(call: Call) -> None:
        (call.query if where == "query" else call.headers).pop(name)

    return drop


async def test_answers_carry_the_headers_the_document_names(
    settings: Settings, db_url: str
) -> None:
    key = await create_key(db_url, 1, "read")
    # One read in the bucket, refilled only after minutes: the second read is refused.
    async with (
        running_api(settings, MemoryCache(), rate_limits="read=0.01:1") as api,
        api.client() as anonymous,
        api.client(key) as http,
    ):
        document = (await http.get("/schema/openapi.json")).json()
        op = document["paths"][f"{PREFIX}/hotels"]["get"]
        answers = {
            "200": await http.get(f"{PREFIX}/hotels"),
            "429": await http.get(f"{PREFIX}/hotels"),
            "401": await anonymous.get(f"{PREFIX}/hotels"),
        }
    components = document["components"]["headers"]
    for code, answer in answers.items():
        assert answer.status_code == int(code), answer.text
        named = {
            name: components[ref["$ref"].rsplit("/", 1)[1]]
            for name, ref in op["responses"][code]["headers"].items()
        }
        required = {name for name, header in named.items() if header["required"]}
        assert {name for name in required if name not in answer.headers} == set(), code
        sent = {
            name
            for name in answer.headers
            if name.lower().startswith("ratelimit-") or name.lower() == "retry-after"
        }
        assert {name.lower() for name in named} >= sent, code
        assert answer.json()["error" if code != "200" else "hotels"] is not None
    assert int(answers["429"].headers["Retry-After"]) > 0
    assert answers["200"].headers["RateLimit-Limit"] == "1"
    assert answers["401"].headers["WWW-Authenticate"].startswith("Bearer")
