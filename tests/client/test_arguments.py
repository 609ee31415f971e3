"""Actions' arguments from their TD input schema: the Python signature, and the check
made before a request is sent."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from labthings.client import InvalidArguments, InvalidInput
from labthings.client.arguments import action_body, action_signature, check_value
from labthings.client.td import Affordance


def action(schema: dict[str, Any] | None) -> Affordance:
    spec = {} if schema is None else {"input": schema}
    return Affordance("move", "actions", spec, ())


MOVE = action(
    {
        "type": "object",
        "properties": {
            "x": {"type": "integer", "minimum": 0, "maximum": 10},
            "y": {"type": "integer", "default": 0},
            "mode": {"enum": ["fast", "slow"], "default": "fast"},
        },
        "required": ["x"],
    }
)


def test_the_signature_lists_the_arguments_with_their_defaults() -> None:
    assert str(action_signature(MOVE)) == "(x, y=0, mode='fast')"
    assert str(action_signature(action(None))) == "()"


def test_required_after_optional_makes_every_argument_keyword_only() -> None:
    mixed = action(
        {"type": "object", "properties": {"a": {"default": 1}, "b": {}}, "required": ["b"]}
    )
    assert str(action_signature(mixed)) == "(*, a=1, b)"


def test_a_call_sends_only_the_arguments_given() -> None:
    assert action_body(MOVE, (3,), {}) == {"x": 3}
    assert action_body(MOVE, (), {"x": 3, "mode": "slow"}) == {"x": 3, "mode": "slow"}
    assert action_body(action(None), (), {}) == {}


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [
        ((), {}, InvalidArguments, "x is required"),
        ((), {"z": 1, "x": 1}, InvalidArguments, "no argument 'z' \\(its arguments: x, y, mode\\)"),
        ((1, 2, 3, 4), {}, InvalidArguments, "too many positional arguments"),
        ((), {"x": 11}, InvalidInput, "x must be at most 10"),
        ((), {"x": 1.5}, InvalidInput, "x must be an integer, not a number"),
        ((), {"x": True}, InvalidInput, "x must be an integer, not a boolean"),
        ((), {"x": 1, "mode": "warp"}, InvalidInput, "mode must be one of 'fast', 'slow'"),
    ],
)
def test_bad_calls_fail_before_sending(
    args: tuple[Any, ...], kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message) as caught:
        action_body(MOVE, args, kwargs)
    assert getattr(caught.value, "status", "missing") is None  # nothing was sent


def test_an_action_without_input_takes_no_arguments() -> None:
    with pytest.raises(InvalidArguments, match="takes no arguments"):
        action_body(action(None), (1,), {})


def test_an_input_that_is_not_an_object_is_one_argument() -> None:
    scalar = action({"type": "number", "default": 1.0})
    assert str(action_signature(scalar)) == "(input=1.0)"
    assert action_body(scalar, (2.5,), {}) == 2.5
    assert action_body(scalar, (), {}) == 1.0


@pytest.mark.parametrize(
    ("schema", "value", "errors"),
    [
        (
            {"type": "number"},
            float("nan"),
            {"value": ["must be a number, not a non-finite number"]},
        ),
        (
            {"type": "array", "items": {"type": "string"}},
            ["a", 1],
            {"[1]": ["must be a string, not a number"]},
        ),
        ({"type": "string", "maxLength": 2}, "abc", {"value": ["must have at most 2 characters"]}),
        ({"oneOf": [{}, {"type": "null"}]}, None, {}),  # any value, or null
        (
            {"oneOf": [{"type": "string"}, {"type": "null"}]},
            3,
            {"value": ["fits none of the allowed forms"]},
        ),
        ({"type": ["integer", "null"]}, None, {}),
        ({"type": "number", "exclusiveMinimum": 0}, 0, {"value": ["must be more than 0"]}),
        (
            {"type": "object", "properties": {"a": {"type": "object", "required": ["b"]}}},
            {"a": {}},
            {"a.b": ["is required"]},
        ),
    ],
)
def test_the_check_covers_td_data_schemas(
    schema: dict[str, Any], value: Any, errors: dict[str, list[str]]
) -> None:
    assert check_value(schema, value) == errors


def test_signatures_show_in_help() -> None:
    def f() -> None: ...

    f.__signature__ = action_signature(MOVE)  # type: ignore[attr-defined]
    assert list(inspect.signature(f).parameters) == ["x", "y", "mode"]
