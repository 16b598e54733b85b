"""The OpenAPI document's input schemas closed: what a Strict Struct refuses, it says it refuses."""

from __future__ import annotations

from typing import TYPE_CHECKING

from litestar.plugins import OpenAPISchemaPlugin

from api.schemas import Strict

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.openapi.spec import Schema
    from litestar.typing import FieldDefinition


class ClosedInputs(OpenAPISchemaPlugin):
    """Litestar describes a Struct with `forbid_unknown_fields` as open to any extra property,
    so a client generated from the document (or schemathesis) sends fields the API then
    refuses. Each input Struct is described by Litestar's own Struct plugin, then closed with
    `additionalProperties: false`."""

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return not field_definition.is_union and field_definition.is_subclass_of(Strict)

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        general = next(
            plugin
            for plugin in schema_creator.plugins
            if plugin is not self and schema_creator.plugin_supports_field(plugin, field_definition)
        )
        schema = general.to_openapi_schema(field_definition, schema_creator)
        schema.additional_properties = False
        return schema
