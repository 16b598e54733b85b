"""Memoized availability answers sent at the ASGI layer, before Litestar routes the call.

The booking engine asks for the same cached availability thousands of times a second, and
Litestar's routing, dependency resolution and response building cost twice the answer itself.
This path answers only a call that is complete and valid and whose answer is memoized: it
uses the route's own query Struct, credential check, scope and hotel rules, memo key and rate
limiter. Any other call (a miss, an error of any kind, a JWT that fails) goes to Litestar
untouched, and Litestar gives the answer or the error; nothing here decides differently.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar.types import HTTPScope

from api.auth.guard import credential_of, identify, rate_decision, rate_limited
from api.context import ApiContext
from api.encoding import accepts_gzip
from api.errors import UNAVAILABLE, ApiError, error_body, unavailable
from api.routes.availability import ACTION, ROUTE, check_range, memo_key, version
from api.routes.common import PREFIX, note
from api.schemas import AvailabilityQuery
from metrics.definitions import api_fast_answers

log = logging.getLogger("pms_bridge.api")

_PATH = f"{PREFIX}/availability/"
_FIELDS = frozenset(AvailabilityQuery.__struct_fields__)
_MAX_ID = 2_147_483_647
_JSON = (b"content-type", b"application/json")
_VARY = (b"vary", b"Accept-Encoding")
_GZIP = (b"content-encoding", b"gzip")
_REMEMBERED = 1024
_ANSWERED = api_fast_answers.labels(status="200")
_REFUSED = api_fast_answers.labels(status="429")
_UNAVAILABLE = api_fast_answers.labels(status="503")
_encode = msgspec.json.Encoder().encode

Reply = tuple[int, list[tuple[bytes, bytes]], bytes]


class FastAvailability:
    route = ROUTE

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

    async def answer(self, scope: HTTPScope, state: dict[str, Any]) -> Reply | None:
        """The reply, or None to leave the call to Litestar (no token taken, nothing noted)."""
        bridge = self._ctx.bridge
        if bridge is None or scope["method"] != "GET":
            return None
        path: str = scope["path"]
        if not path.startswith(_PATH):
            return None
        hotel_id = _id(path[len(_PATH) :])
        q = self._query(scope["query_string"])
        if hotel_id is None or q is None:
            return None
        body = self._ctx.availability_memo.get(memo_key(hotel_id, q), version(bridge))
        if body is None:
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
            if credential is None:
                return None
            principal = await identify(self._ctx, credential)
        except ApiError:
            return None  # refused: the app answers, with its error
        except UNAVAILABLE as exc:
            # The key could not be read: the app would wait for the same pool again.
            log.warning("dependency unavailable on GET %s: %s", path, exc)
            failed, retry = unavailable(state, exc)
            _UNAVAILABLE.inc()
            return _reply(503, failed, retry)
        if "read" not in principal.scopes or principal.hotel_id != hotel_id:
            return None

        state["principal"] = principal
        decision = await rate_decision(state, self._ctx, principal.key_id, "read")
        if not decision.allowed:
            # Refused before the handler would run: audited as the route, like the app does.
            refused = rate_limited(decision, "read")
            _REFUSED.inc()
            return _reply(429, error_body(state, refused.error, refused.payload), {})
        note(state, ACTION, "hotel", str(hotel_id))
        gzip_ok = encoding is not None and self._gzip_ok(encoding)
        if gzip_ok and body.gzip is not None:
            content, headers = body.gzip, [_JSON, _GZIP, _VARY]
        else:
            content, headers = body.json, [_JSON, _VARY]
        headers.append((b"content-length", b"%d" % len(content)))
        _ANSWERED.inc()
        return 200, headers, content


def _reply(status: int, body: dict[str, Any], headers: dict[str, str]) -> Reply:
    content = _encode(body)
    extra = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    return status, [_JSON, *extra, (b"content-length", b"%d" % len(content))], content


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
