"""The OpenAPI document as the API behaves: closed inputs, full answers, headers, security."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from litestar.openapi.spec import (
    OpenAPIHeader,
    OpenAPIResponse,
    Operation,
    Parameter,
    Reference,
    Schema,
)
from litestar.openapi.spec.enums import OpenAPIType
from litestar.plugins import OpenAPISchemaPlugin
from litestar.serialization import encode_json

from api.schemas import Strict

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.typing import FieldDefinition

# The booking engine's credentials: an API key or an access token as a Bearer token, or the
# key in X-API-Key.
CALLER: list[dict[str, list[str]]] = [{"bearer": []}, {"apiKey": []}]

_INTEGER = Schema(type=OpenAPIType.INTEGER)
_TEXT = Schema(type=OpenAPIType.STRING)
_RATE_LIMIT = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy")
# The headers answers carry, as components: an operation refers to them.
HEADERS = {
    "RateLimit-Limit": OpenAPIHeader(
        schema=_INTEGER, description="The bucket's size (burst) for this caller and call class"
    ),
    "RateLimit-Remaining": OpenAPIHeader(schema=_INTEGER, description="Calls left in the bucket"),
    "RateLimit-Reset": OpenAPIHeader(
        schema=_INTEGER, description="Seconds until the bucket is full again"
    ),
    "RateLimit-Policy": OpenAPIHeader(
        schema=_TEXT, description="The limit as '<burst>;w=<seconds>'"
    ),
    "Retry-After": OpenAPIHeader(
        schema=_INTEGER, description="Seconds to wait before calling again", required=True
    ),
    "Retry-After-Optional": OpenAPIHeader(
        schema=_INTEGER,
        description="Seconds to wait before calling again (not sent when the API lacks a"
        " configuration, such as its database)",
    ),
    "WWW-Authenticate": OpenAPIHeader(
        schema=_TEXT, description="The scheme to authenticate with", required=True
    ),
}


def _ref(component: str) -> Reference:
    return Reference(ref=f"#/components/headers/{component}")


class ExactStructs(OpenAPISchemaPlugin):
    """Litestar describes a Struct with `forbid_unknown_fields` as open to any extra property,
    so a client generated from the document (or schemathesis) sends fields the API then
    refuses; and it describes an answer's field that has a default as optional, though msgspec
    always encodes it. Each Struct is described by Litestar's own Struct plugin, then an input
    is closed with `additionalProperties: false` and an answer lists every field as required."""

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return not field_definition.is_union and field_definition.is_subclass_of(msgspec.Struct)

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        general = next(
            plugin
            for plugin in schema_creator.plugins
            if plugin is not self and schema_creator.plugin_supports_field(plugin, field_definition)
        )
        schema = general.to_openapi_schema(field_definition, schema_creator)
        if field_definition.is_subclass_of(Strict):
            schema.additional_properties = False
        elif schema.properties:
            schema.required = sorted(schema.properties)
        return schema


@dataclass
class Documented(Operation):
    """An operation of the booking engine's API as the API answers it: the caller's credentials
    (when the route names no other security), the rate-limit headers on every answer of a
    limited call (one that documents 429), Retry-After on 429 and 503, WWW-Authenticate on 401;
    and its optional query and header parameters as what is sent (a parameter left out is
    absent, never null)."""

    def __post_init__(self) -> None:
        if self.security is None:
            self.security = CALLER
        for parameter in self.parameters or []:
            if isinstance(parameter, Parameter) and isinstance(parameter.schema, Schema):
                _not_null(parameter.schema)
        responses = self.responses or {}
        limited = "429" in responses
        for code, response in responses.items():
            if not isinstance(response, OpenAPIResponse):
                continue
            # A call refused before its rate was taken (no credentials) has no rate-limit
            # headers; they are documented, not required.
            headers = {name: _ref(name) for name in _RATE_LIMIT if limited}
            if code == "429":
                headers["Retry-After"] = _ref("Retry-After")
            if code == "503":
                headers["Retry-After"] = _ref("Retry-After-Optional")
            if code == "401":
                headers["WWW-Authenticate"] = _ref("WWW-Authenticate")
            response.headers = {**(response.headers or {}), **headers}


def _not_null(schema: Schema) -> None:
    """`T | None` of an optional parameter as T: Litestar writes it as oneOf [T, null]."""
    variants = [s for s in schema.one_of or [] if isinstance(s, Schema)]
    kept = [s for s in variants if s.type != OpenAPIType.NULL]
    if len(variants) == 2 and len(kept) == 1:
        schema.one_of = None
        schema.type = kept[0].type
        schema.format = kept[0].format


def document(app: Litestar) -> dict[str, Any]:
    """The OpenAPI document the app serves at /schema/openapi.json."""
    served: dict[str, Any] = msgspec.json.decode(encode_json(app.openapi_schema.to_schema()))
    return served


def main(argv: list[str] | None = None) -> int:
    """Writes the document without a database: clients are generated from it."""
    parser = argparse.ArgumentParser(prog="python -m api.openapi", description=main.__doc__)
    parser.add_argument("--write", type=Path, help="file to write (default: standard output)")
    args = parser.parse_args(argv)
    # Imported here: the app imports this module for its plugin and operations.
    from api.app import create_app
    from api.context import ApiContext
    from bridge.cache.memory import MemoryCache
    from bridge.config import Settings

    text = json.dumps(document(create_app(ApiContext(Settings(), MemoryCache()))), indent=2)
    if args.write is None:
        sys.stdout.write(text + "\n")
    else:
        args.write.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
