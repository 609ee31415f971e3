"""OpenAPI 3.0 schemas rewritten as TD 1.1 DataSchemas."""

from __future__ import annotations

import pytest
from marshmallow import fields
from marshmallow.validate import Range

from labthings.core.describe.dataschema import field_schema, td_data_schema


def test_nullable_keeps_annotations_and_a_null_default_outside_the_one_of() -> None:
    field = fields.Integer(allow_none=True, load_default=None, metadata={"title": "Count"})
    assert td_data_schema(field_schema(field)) == {
        "oneOf": [{"type": "integer"}, {"type": "null"}],
        "title": "Count",
        "default": None,
    }


def test_nullable_without_a_default_has_none() -> None:
    assert "default" not in td_data_schema({"type": "string", "nullable": True})


def test_boolean_exclusive_bounds_become_numbers() -> None:
    openapi = {
        "type": "number",
        "minimum": 0,
        "exclusiveMinimum": True,
        "maximum": 10,
        "exclusiveMaximum": False,
    }
    assert td_data_schema(openapi) == {"type": "number", "exclusiveMinimum": 0, "maximum": 10}


def test_one_of_members_and_nested_schemas_are_converted() -> None:
    openapi = {
        "oneOf": [{"type": "integer", "nullable": True}, {"type": "string"}],
        "additionalProperties": False,
    }
    assert td_data_schema(openapi) == {
        "oneOf": [{"oneOf": [{"type": "integer"}, {"type": "null"}]}, {"type": "string"}]
    }
    items = td_data_schema({"type": "array", "items": {"type": "number", "nullable": True}})
    assert items["items"] == {"oneOf": [{"type": "number"}, {"type": "null"}]}


@pytest.mark.parametrize(
    ("field", "example"),
    [
        (fields.Integer(validate=Range(-(2**31), 2**31 - 1)), 0),
        (fields.Integer(validate=Range(10, 20)), 10),
        (fields.Float(validate=Range(-5, -1)), -1),
    ],
)
def test_bounded_numbers_get_an_example_a_person_would_type(
    field: fields.Field, example: float
) -> None:
    # Swagger UI otherwise offers a number's maximum (2147483647 for a 32-bit int).
    assert field_schema(field)["example"] == example
    assert "example" not in td_data_schema(field_schema(field))


def test_examples_reach_items_and_keep_defaults() -> None:
    listed = field_schema(fields.List(fields.Integer(validate=Range(5, 9))))
    assert listed["items"]["example"] == 5
    assert "example" not in field_schema(fields.Integer(validate=Range(5, 9), load_default=7))
    assert "example" not in field_schema(fields.Integer())
