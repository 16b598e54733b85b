"""Request bodies decoded strictly: JSON only, straight into the route's body Struct."""

from __future__ import annotations

import re
from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import ValidationException
from litestar.types import Empty

from api.errors import ApiError

# "... - at `$.guest.name`" or "... - at `$[0]`": msgspec's path of the failing field.
_AT = re.compile(r" - at `\$\.?(?P<key>[^`]*)`$")


class ApiRequest(Request[Any, Any, Any]):
    """Litestar decodes a JSON body untyped and then converts it leniently, as it must for
    query strings: "2" became 2 and 2.0 an integer, a body sent as form data was read as JSON,
    and a deeply nested array exhausted the recursion limit (a 500). Decoded here in one
    strict pass into the route's Struct, a body is what the OpenAPI document says or a 400."""

    async def body(self) -> bytes:
        body = await super().body()
        if not body and self.route_handler.parsed_data_field is not None:
            raise ApiError(400, "bad_request", "this call needs a JSON body")
        return body

    async def json(self) -> Any:
        if self._json is Empty:
            self._json = self._connection_state.json = decode(
                await self.body(), self.headers.get("content-type"), self._body_type()
            )
        return self._json

    def _body_type(self) -> Any:
        field = self.route_handler.parsed_data_field
        return Any if field is None else field.annotation


def decode(body: bytes, content_type: str | None, body_type: Any) -> Any:
    media_type = (content_type or "application/json").split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise ApiError(
            415, "unsupported_media_type", f"send the body as application/json, not {media_type}"
        )
    try:
        return msgspec.json.decode(body, type=body_type, strict=True)
    except msgspec.ValidationError as exc:
        message, key = str(exc), ""
        if match := _AT.search(message):
            message, key = message[: match.start()], match["key"]
        raise ValidationException(
            "Validation failed", extra=[{"message": message, "key": key, "source": "body"}]
        ) from None
    except msgspec.DecodeError as exc:
        raise ApiError(400, "bad_request", f"the body is not valid JSON: {exc}") from None
    except UnicodeDecodeError as exc:
        # msgspec checks a string's UTF-8 only as it decodes it, and raises this for it.
        raise ApiError(
            400, "bad_request", f"the body is not valid UTF-8: byte {exc.start} of a string"
        ) from None
