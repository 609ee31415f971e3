"""JSON schemas of marshmallow fields, for OpenAPI 3.0 and for Thing Descriptions.

One apispec converter turns fields into OpenAPI 3.0 schema objects; `td_data_schema`
rewrites one of those into a W3C TD 1.1 DataSchema (nullable values become a `oneOf`
with `{"type": "null"}`, keywords TDs do not know are dropped).
"""

from __future__ import annotations

import functools
import math
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin, OpenAPIConverter
from marshmallow import Schema, fields

__all__ = ["OPENAPI_VERSION", "field_schema", "object_schema", "td_data_schema"]

OPENAPI_VERSION = "3.0.3"

_TD_KEYWORDS = frozenset(
    {
        "title", "description", "type", "const", "default", "unit", "oneOf", "enum",
        "readOnly", "writeOnly", "format", "items", "minItems", "maxItems", "minimum",
        "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "properties",
        "required", "minLength", "maxLength", "pattern", "contentEncoding",
        "contentMediaType",
    }
)  # fmt: skip


def _tuple_schema(
    converter: OpenAPIConverter, field: fields.Field, **kwargs: Any
) -> dict[str, Any]:
    if not isinstance(field, fields.Tuple):
        return {}
    count = len(field.tuple_fields)
    return {"type": "array", "minItems": count, "maxItems": count, "items": {}}


@functools.cache
def _converter() -> OpenAPIConverter:
    plugin = MarshmallowPlugin()
    APISpec("labthings", "1", OPENAPI_VERSION, plugins=[plugin])
    converter = plugin.converter
    assert converter is not None
    converter.add_attribute_function(_tuple_schema)
    return converter


def field_schema(field: fields.Field) -> dict[str, Any]:
    """The OpenAPI 3.0 schema object of one field, with examples a person would type."""
    return _with_examples(dict(_converter().field2property(field)))


def _with_examples(schema: dict[str, Any]) -> dict[str, Any]:
    """Give bounded numbers an `example` near zero.

    Swagger UI fills example bodies with a number's maximum when it has one, so a plain
    `int` argument limited to 32 bits was offered as 2147483647 steps. Nested item and
    property schemas are treated too; a schema with a default or example keeps it.
    """
    if "items" in schema and isinstance(schema["items"], dict):
        schema["items"] = _with_examples(dict(schema["items"]))
    if isinstance(schema.get("properties"), dict):
        schema["properties"] = {
            name: _with_examples(dict(inner)) for name, inner in schema["properties"].items()
        }
    bounded = "minimum" in schema or "maximum" in schema
    if schema.get("type") in ("integer", "number") and bounded:
        if "example" not in schema and "default" not in schema:
            schema["example"] = _example_between(schema)
    return schema


def _example_between(schema: dict[str, Any]) -> float:
    """The value within the schema's bounds that is nearest zero."""
    return min(max(0, schema.get("minimum", -math.inf)), schema.get("maximum", math.inf))


def object_schema(schema: Schema) -> dict[str, Any]:
    """The OpenAPI 3.0 object schema of a marshmallow Schema (all fields inline)."""
    properties = {
        name: field_schema(field) for name, field in schema.fields.items() if not field.dump_only
    }
    result: dict[str, Any] = {"type": "object", "properties": properties}
    required = [name for name, field in schema.fields.items() if field.required]
    if required:
        result["required"] = required
    result["additionalProperties"] = False
    return result


def td_data_schema(openapi: dict[str, Any]) -> dict[str, Any]:
    """A TD 1.1 DataSchema equivalent to an OpenAPI 3.0 schema object.

    A nullable schema becomes `{"oneOf": [schema, {"type": "null"}]}` with its title,
    description, default (even a null one) and readOnly/writeOnly kept outside the
    `oneOf`; OpenAPI 3.0's boolean `exclusiveMinimum`/`exclusiveMaximum` become TD's
    numeric bounds.
    """
    converted: dict[str, Any] = {}
    for key, value in openapi.items():
        if key not in _TD_KEYWORDS:
            continue
        if key == "items":
            converted[key] = td_data_schema(value) if value else {}
        elif key == "properties":
            converted[key] = {name: td_data_schema(inner) for name, inner in value.items()}
        elif key == "oneOf":
            converted[key] = [td_data_schema(inner) for inner in value]
        else:
            converted[key] = value
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(converted.get(exclusive), bool):
            if converted.pop(exclusive) and bound in converted:
                converted[exclusive] = converted.pop(bound)
    if openapi.get("nullable"):
        annotations: dict[str, Any] = {
            key: converted.pop(key)
            for key in ("title", "description", "default", "readOnly", "writeOnly")
            if key in converted
        }
        return {"oneOf": [converted, {"type": "null"}], **annotations}
    return converted
