"""Marshmallow fields from type hints, and the JSON strictness of the scalar fields."""

from __future__ import annotations

import enum
from typing import Annotated, Any, Literal, Optional, Union

import marshmallow
import pytest
from marshmallow import fields
from marshmallow.validate import Range

from labthings import fields as strict_fields
from labthings.core.describe.types import (
    StrictBoolean,
    StrictFloat,
    StrictInteger,
    field_for_hint,
    schema_for_fields,
)
from labthings.core.errors import ConfigurationError


class Colour(enum.Enum):
    RED = "red"
    GREEN = "green"


class Mode(enum.IntEnum):
    SLOW = 1
    FAST = 2


def load(field: fields.Field, value: Any) -> Any:
    """Deserialise `value` as a request body value would be."""
    return field.deserialize(value)


def rejects(field: fields.Field, value: Any) -> bool:
    try:
        field.deserialize(value)
    except marshmallow.ValidationError:
        return True
    return False


# -- which field each hint gives -------------------------------------------------------


@pytest.mark.parametrize(
    ("hint", "field_type"),
    [
        (int, StrictInteger),
        (float, StrictFloat),
        (bool, StrictBoolean),
        (str, fields.String),
        (Any, fields.Raw),
        (list, fields.List),
        (list[int], fields.List),
        (tuple[int, ...], fields.List),
        (tuple[int, str], fields.Tuple),
        (dict, fields.Dict),
        (dict[str, float], fields.Dict),
        (Literal["a", "b"], fields.String),
        (Literal[1, 2], StrictInteger),
        (Colour, fields.Enum),
    ],
)
def test_each_supported_hint_gives_its_field(hint: Any, field_type: type) -> None:
    field = field_for_hint(hint)
    assert isinstance(field, field_type)
    assert not field.allow_none or hint is Any


@pytest.mark.parametrize(
    "hint",
    [Optional[int], Union[int, None], int | None, None | int],  # noqa: UP007, UP045 - typing forms on purpose
)
def test_optional_and_none_unions_allow_null(hint: Any) -> None:
    field = field_for_hint(hint)
    assert isinstance(field, StrictInteger)
    assert load(field, None) is None
    assert load(field, 3) == 3
    assert rejects(field, "3")


def test_plain_types_refuse_null() -> None:
    for hint in (int, float, bool, str, list[int], dict[str, float]):
        assert rejects(field_for_hint(hint), None), hint


def test_options_are_passed_to_the_field() -> None:
    field = field_for_hint(int, required=False, load_default=5)
    assert field.load_default == 5
    assert field.required is False


def test_list_of_int_checks_every_item() -> None:
    field = field_for_hint(list[int])
    assert load(field, [1, 2, 3]) == [1, 2, 3]
    assert load(field, []) == []
    with pytest.raises(marshmallow.ValidationError) as caught:
        load(field, [1, "2", 3])
    assert list(caught.value.messages) == [1]  # names the bad item
    assert rejects(field, 1)
    assert rejects(field, "123")


def test_bare_list_and_dict_take_any_json() -> None:
    assert load(field_for_hint(list), [1, "a", None]) == [1, "a", None]
    assert load(field_for_hint(dict), {"a": [1], "b": None}) == {"a": [1], "b": None}


def test_homogeneous_tuple_is_a_list_of_any_length() -> None:
    field = field_for_hint(tuple[float, ...])
    assert load(field, [1, 2.5]) == [1.0, 2.5]
    assert rejects(field, [1, "x"])


def test_fixed_tuple_checks_length_and_each_position() -> None:
    field = field_for_hint(tuple[int, str])
    assert load(field, [1, "a"]) == (1, "a")
    assert rejects(field, [1])
    assert rejects(field, [1, "a", 2])
    assert rejects(field, ["a", 1])


def test_dict_of_str_to_float_checks_values() -> None:
    field = field_for_hint(dict[str, float])
    assert load(field, {"x": 1, "y": 2.5}) == {"x": 1.0, "y": 2.5}
    assert rejects(field, {"x": "1"})
    assert rejects(field, {"x": True})
    assert rejects(field, [1.0])


def test_literal_of_strings_accepts_only_those_strings() -> None:
    field = field_for_hint(Literal["fast", "slow"])
    assert load(field, "fast") == "fast"
    assert rejects(field, "medium")
    assert rejects(field, 1)


def test_literal_of_ints_accepts_only_those_ints() -> None:
    field = field_for_hint(Literal[1, 2, 4])
    assert load(field, 4) == 4
    assert rejects(field, 3)
    assert rejects(field, "1")
    assert rejects(field, True)


def test_enum_is_loaded_and_dumped_by_value() -> None:
    field = field_for_hint(Colour)
    assert load(field, "red") is Colour.RED
    assert rejects(field, "RED")
    assert rejects(field, "blue")
    assert field.serialize("c", {"c": Colour.GREEN}) == "green"
    int_field = field_for_hint(Mode)
    assert load(int_field, 2) is Mode.FAST
    assert int_field.serialize("m", {"m": Mode.SLOW}) == 1


def test_any_accepts_every_json_value() -> None:
    field = field_for_hint(Any)
    for value in (None, 1, 1.5, "x", True, [1], {"a": 1}):
        assert load(field, value) == value


def test_annotated_with_a_field_uses_that_field() -> None:
    given = strict_fields.Integer(validate=Range(0, 10))
    field = field_for_hint(Annotated[int, given])
    assert isinstance(field, StrictInteger)
    assert load(field, 10) == 10
    assert rejects(field, 11)
    assert rejects(field, -1)
    for not_an_integer in ("1", 1.5, True):  # labthings.fields are JSON-strict too
        assert rejects(field, not_an_integer)


def test_an_annotated_marshmallow_field_is_used_as_given() -> None:
    field = field_for_hint(Annotated[float, fields.Float(metadata={"unit": "mm"})])
    assert type(field) is fields.Float
    assert field.metadata == {"unit": "mm"}


def test_annotated_without_a_field_uses_the_type() -> None:
    field = field_for_hint(Annotated[int, "just a note"])
    assert isinstance(field, StrictInteger)


def test_a_reused_annotated_alias_is_not_changed_by_one_use() -> None:
    # One alias, used once as an optional argument and once as a required one.
    Small = Annotated[int, strict_fields.Integer(validate=Range(0, 10))]
    optional = field_for_hint(Small, required=False, load_default=None, allow_none=True)
    required = field_for_hint(Small, required=True)
    assert optional.allow_none and optional.load_default is None and not optional.required
    assert required.required and not required.allow_none
    assert rejects(field_for_hint(Small), None)
    assert rejects(optional, 11)  # the validator is kept in the copies


# -- JSON strictness -------------------------------------------------------------------


@pytest.mark.parametrize("value", [True, False, "1", 1.5, 1.0, "one", None, [1], {"a": 1}])
def test_int_refuses_what_is_not_a_json_integer(value: Any) -> None:
    assert rejects(field_for_hint(int), value)


@pytest.mark.parametrize("value", [0, 1, -7, 2**40])
def test_int_accepts_json_integers(value: int) -> None:
    loaded = load(field_for_hint(int), value)
    assert loaded == value and type(loaded) is int


@pytest.mark.parametrize(
    "value", [True, False, "1.5", "1", "nan", float("nan"), float("inf"), float("-inf"), None]
)
def test_float_refuses_strings_booleans_and_non_finite_numbers(value: Any) -> None:
    assert rejects(field_for_hint(float), value)


@pytest.mark.parametrize(("value", "expected"), [(1, 1.0), (0, 0.0), (1.5, 1.5), (-2.25, -2.25)])
def test_float_accepts_integers_and_decimals(value: Any, expected: float) -> None:
    loaded = load(field_for_hint(float), value)
    assert loaded == expected and isinstance(loaded, float)


@pytest.mark.parametrize("value", [1, 0, "true", "false", "yes", "", None, [True]])
def test_bool_accepts_only_true_and_false(value: Any) -> None:
    assert rejects(field_for_hint(bool), value)


def test_bool_keeps_false_as_false() -> None:
    assert load(field_for_hint(bool), False) is False
    assert load(field_for_hint(bool), True) is True


@pytest.mark.parametrize("value", [1, 1.5, True, None, ["a"]])
def test_str_refuses_non_strings(value: Any) -> None:
    assert rejects(field_for_hint(str), value)


def test_str_accepts_the_empty_string() -> None:
    assert load(field_for_hint(str), "") == ""


def test_the_error_message_says_what_was_expected() -> None:
    with pytest.raises(marshmallow.ValidationError) as caught:
        load(field_for_hint(int), "1")
    assert "integer" in str(caught.value.messages).lower()


# -- hints that cannot be expressed ----------------------------------------------------


class Driver:
    pass


@pytest.mark.parametrize(
    ("hint", "words"),
    [
        (Driver, "Driver"),
        (set[int], "set"),
        (complex, "complex"),
        (bytes, "bytes"),
        (int | str, "X | None"),
        (Union[int, str, None], "X | None"),  # noqa: UP007 - the typing form on purpose
        (dict[int, float], "keys are strings"),
        (Literal[1, "a"], "only strings or only integers"),
        (Literal[True], "only strings or only integers"),
    ],
)
def test_unsupported_hints_raise_a_helpful_configuration_error(hint: Any, words: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        field_for_hint(hint)
    assert words in str(caught.value)


def test_an_unknown_type_suggests_what_to_do_instead() -> None:
    with pytest.raises(ConfigurationError, match="Annotated"):
        field_for_hint(Driver)


def test_a_bad_item_type_inside_a_container_is_reported() -> None:
    with pytest.raises(ConfigurationError, match="Driver"):
        field_for_hint(list[Driver])


# -- schemas ---------------------------------------------------------------------------


def test_schema_for_fields_rejects_unknown_keys() -> None:
    schema = schema_for_fields("Thing", {"x": field_for_hint(int, required=True)})
    assert schema.load({"x": 1}) == {"x": 1}
    with pytest.raises(marshmallow.ValidationError) as caught:
        schema.load({"x": 1, "z": 2})
    assert caught.value.messages == {"z": ["Unknown field."]}
