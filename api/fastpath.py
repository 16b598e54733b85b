"""Memoized answers of the hottest reads (availability, hotel) sent at the ASGI layer,
before Litestar routes the call.

The booking engine asks for the same cached answers thousands of times a second, and
Litestar's routing, dependency resolution and response building cost twice the answer itself.
This path answers only a call that is complete and valid and whose answer is memoized: it
uses the route's own query Struct, credential check, scope and hotel rules, memo key and rate
limiter. Any other call (a miss, an error of any kind, a JWT that fails) goes to Litestar
untouched, and Litestar gives the answer or the error; nothing here decides differently.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, NamedTuple

import msgspec
from litestar.types import HTTPScope

from api.auth.guard import (
    Principal,
    credential_of,
    decided,
    identify,
    identify_now,
    rate_decision,
    rate_limited,
)
from api.context import ApiContext
from api.encoding import Encoded, accepts_gzip
from api.errors import UNAVAILABLE, ApiError, error_body, unavailable
from api.ratelimit import Decision
from api.routes.availability import ACTION, ROUTE, check_range, memo_key, version
from api.routes.common import PREFIX, note
from api.routes.hotels import HOTEL_ACTION, HOTEL_ROUTE, catalog_version, hotel_memo_key
from api.schemas import AvailabilityQuery
from bridge.http import Headers
from metrics.definitions import api_fast_answers

log = logging.getLogger("pms_bridge.api")

_AVAILABILITY = f"{PREFIX}/availability/"
_HOTEL = f"{PREFIX}/hotels/"
_FIELDS = frozenset(AvailabilityQuery.__struct_fields__)
_MAX_ID = 2_147_483_647
_JSON = (b"content-type", b"application/json")
_VARY = (b"vary", b"Accept-Encoding")
_GZIP = (b"content-encoding", b"gzip")
_REMEMBERED = 1024
_encode = msgspec.json.Encoder().encode


class Reply(NamedTuple):
    status: int
    headers: Headers
    body: bytes
    route: str


class _Found(NamedTuple):
    """A memoized answer of a route, and what its audit entry says."""

    route: str
    action: str
    hotel_id: int
    answer: Encoded
    vary: bool  # the route's answers say `Vary: Accept-Encoding`


class _Call(NamedTuple):
    found: _Found
    credential: str
    encoding: bytes | None  # the Accept-Encoding header


# Where an answer was sent from: the HTTP protocol (no ASGI cycle) or the ASGI entry.
_PROTOCOL = "protocol"
_ENTRY = "entry"


class FastReads:
    def __init__(self, ctx: ApiContext) -> None:
        self._ctx = ctx
        # Booking engines send the same few query strings and headers again and again.
        self._queries: dict[bytes, AvailabilityQuery | None] = {}
        self._encodings: dict[bytes, bool] = {}

    def _query(self, raw: bytes) -> AvailabilityQuery | None:
        if raw not in self._queries:
            if len(self._queries) >= _REMEMBERED:
                self._queries.clear()
            self._queries[raw] = _valid_query(raw)
        return self._queries[raw]

    def _gzip_ok(self, header: bytes) -> bool:
        if header not in self._encodings:
            if len(self._encodings) >= _REMEMBERED:
                self._encodings.clear()
            self._encodings[header] = accepts_gzip(header.decode("latin-1"))
        return self._encodings[header]

    def _find(self, path: str, raw_query: bytes) -> _Found | None:
        bridge = self._ctx.bridge
        if bridge is None:
            return None
        if path.startswith(_AVAILABILITY):
            hotel_id = _id(path[len(_AVAILABILITY) :])
            q = self._query(raw_query)
            # The window is checked per call, not kept with the query: it moves at midnight.
            if (
                hotel_id is None
                or q is None
                or not self._ctx.horizon.covers(q.start_date, q.end_date)
            ):
                return None
            body = self._ctx.availability_memo.get(memo_key(hotel_id, q), version(bridge))
            return None if body is None else _Found(ROUTE, ACTION, hotel_id, body, True)
        if path.startswith(_HOTEL) and not raw_query:
            hotel_id = _id(path[len(_HOTEL) :])
            if hotel_id is None:
                return None
            memo = self._ctx.catalog_memo
            plain = memo.get(hotel_memo_key(hotel_id), catalog_version(bridge))
            if plain is None:
                return None
            return _Found(HOTEL_ROUTE, HOTEL_ACTION, hotel_id, Encoded(plain, None), False)
        return None

    def _call(self, scope: HTTPScope) -> _Call | None:
        """The memoized answer a call asks for, with its credential; None for any other call."""
        if scope["method"] != "GET":
            return None
        found = self._find(scope["path"], scope["query_string"])
        if found is None:
            return None
        authorization = api_key = encoding = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"x-api-key":
                api_key = value.decode("latin-1")
            elif name == b"accept-encoding" and encoding is None:
                encoding = value  # the first one, as Litestar's headers.get() reads it
        try:
            credential = credential_of(authorization, api_key)
        except ApiError:
            return None  # refused: the app answers, with its error
        return None if credential is None else _Call(found, credential, encoding)

    async def answer(self, scope: HTTPScope, state: dict[str, Any]) -> Reply | None:
        """The reply, or None to leave the call to Litestar (no token taken, nothing noted)."""
        call = self._call(scope)
        if call is None or self._failing(scope):
            return None
        try:
            principal = await identify(self._ctx, call.credential)
        except ApiError:
            return None
        except UNAVAILABLE as exc:
            # The key could not be read: the app would wait for the same pool again.
            log.warning("dependency unavailable on GET %s: %s", scope["path"], exc)
            failed, retry = unavailable(state, exc)
            _counted(call.found.route, 503, _ENTRY).inc()
            return _reply(503, failed, retry, call.found.route)
        if not _may_read(principal, call):
            return None
        state["principal"] = principal
        decision = await rate_decision(state, self._ctx, principal.key_id, "read")
        return self._reply(call, state, decision, _ENTRY)

    def answer_now(self, scope: HTTPScope, state: dict[str, Any]) -> Reply | None:
        """answer's reply when it needs no wait (the key's record cached, a rate decision at
        hand), for the server to send without an ASGI cycle; else None, and the call takes the
        ASGI path, where answer decides. Nothing is taken or noted before it is sure."""
        call = self._call(scope)
        if call is None:
            return None
        principal = identify_now(self._ctx, call.credential)
        if principal is None or not _may_read(principal, call):
            return None
        assert self._ctx.limiter is not None
        decision = self._ctx.limiter.hit_now(principal.key_id, "read")
        if decision is None:
            return None
        state["principal"] = principal
        return self._reply(call, state, decided(state, decision, "read"), _PROTOCOL)

    def _failing(self, scope: HTTPScope) -> bool:
        # An address past its failed-authentication limit: the app refuses it, unlooked-up.
        failed = self._ctx.failed_auth
        client = scope.get("client")
        return failed is not None and failed.refused(client[0] if client else "unknown") is not None

    def _reply(self, call: _Call, state: dict[str, Any], decision: Decision, at: str) -> Reply:
        found = call.found
        if not decision.allowed:
            # Refused before the handler would run: audited as the route, like the app does.
            refused = rate_limited(decision, "read")
            _counted(found.route, 429, at).inc()
            refusal = error_body(state, refused.error, refused.payload)
            return _reply(429, refusal, {}, found.route)
        note(state, found.action, "hotel", str(found.hotel_id))
        body = found.answer
        if call.encoding is not None and body.gzip is not None and self._gzip_ok(call.encoding):
            content, headers = body.gzip, [_JSON, _GZIP, _VARY]
        else:
            content, headers = body.json, [_JSON, _VARY] if found.vary else [_JSON]
        headers.append((b"content-length", b"%d" % len(content)))
        _counted(found.route, 200, at).inc()
        return Reply(200, headers, content, found.route)


def _may_read(principal: Principal, call: _Call) -> bool:
    return "read" in principal.scopes and principal.hotel_id == call.found.hotel_id


@functools.cache
def _counted(route: str, status: int, at: str) -> Any:
    return api_fast_answers.labels(route=route, status=str(status), at=at)


def _reply(status: int, body: dict[str, Any], headers: dict[str, str], route: str) -> Reply:
    content = _encode(body)
    extra = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    return Reply(status, [_JSON, *extra, (b"content-length", b"%d" % len(content))], content, route)


def _id(text: str) -> int | None:
    """A hotel id exactly as Litestar's `{hotel_id:int}` and its bounds accept it, or None."""
    if not (text.isascii() and text.isdigit()) or text[0] == "0" or len(text) > 10:
        return None
    value = int(text)
    return value if value <= _MAX_ID else None


def _valid_query(raw: bytes) -> AvailabilityQuery | None:
    """Plain `name=value` pairs (no escapes, no repeats) making a valid query of the route's
    Struct and range rules, or None."""
    if b"%" in raw or b"+" in raw:
        return None
    fields: dict[str, str] = {}
    for pair in raw.decode("ascii", "replace").split("&"):
        name, eq, value = pair.partition("=")
        if not eq or name not in _FIELDS or name in fields:
            return None
        fields[name] = value
    try:
        q = msgspec.convert(fields, AvailabilityQuery, strict=False)
        check_range(q)
    except (msgspec.ValidationError, ApiError):
        return None
    return q
