"""An action's arguments from its TD `input` schema: a Python signature, and a check of
the values before anything is sent.

The check covers what TD data schemas say about JSON values (types, `enum`, `const`,
bounds, lengths, `items`, object `properties` and `required`); it errs on the side of
letting a value through (`oneOf` passes if any branch does, `pattern` and `format` are
left to the server), since the server validates everything again.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from typing import Any

from labthings.client.errors import InvalidArguments, InvalidInput
from labthings.client.td import Affordance

__all__ = ["action_body", "action_signature", "check_value"]

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list, tuple),
    "null": (type(None),),
}


def check_value(schema: Mapping[str, Any], value: Any, where: str = "") -> dict[str, list[str]]:
    """Where `value` breaks `schema` (`a.b[2]` -> messages); empty if it fits."""
    errors: dict[str, list[str]] = {}
    _check(schema, value, where, errors)
    return errors


def _check(schema: Mapping[str, Any], value: Any, where: str, errors: dict[str, list[str]]) -> None:
    def fail(message: str) -> None:
        errors.setdefault(where or "value", []).append(message)

    branches = schema.get("oneOf") or schema.get("anyOf")
    if branches and all(check_value(branch, value, where) for branch in branches):
        fail("fits none of the allowed forms")
        return
    kind = schema.get("type")
    if kind is not None and not _is_type(value, kind):
        fail(f"must be {_a(kind)}, not {_json_type(value)}")
        return
    if "const" in schema and value != schema["const"]:
        fail(f"must be {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        fail("must be one of " + ", ".join(repr(option) for option in schema["enum"]))
    if _is_number(value):
        _check_bounds(schema, value, fail)
    elif isinstance(value, str):
        _check_length(schema, len(value), "characters", "Length", fail)
    elif isinstance(value, list | tuple):
        _check_length(schema, len(value), "items", "Items", fail)
        items = schema.get("items")
        if isinstance(items, Mapping):
            for index, item in enumerate(value):
                _check(items, item, f"{where}[{index}]", errors)
    elif isinstance(value, dict):
        properties = schema.get("properties") or {}
        for name in schema.get("required") or ():
            if name not in value:
                errors.setdefault(_join(where, name), []).append("is required")
        for name, inner in value.items():
            if name in properties:
                _check(properties[name], inner, _join(where, name), errors)


def _check_bounds(schema: Mapping[str, Any], value: float, fail: Any) -> None:
    if "minimum" in schema and value < schema["minimum"]:
        fail(f"must be at least {schema['minimum']}")
    if "maximum" in schema and value > schema["maximum"]:
        fail(f"must be at most {schema['maximum']}")
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        fail(f"must be more than {schema['exclusiveMinimum']}")
    if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
        fail(f"must be less than {schema['exclusiveMaximum']}")


def _check_length(schema: Mapping[str, Any], length: int, unit: str, key: str, fail: Any) -> None:
    if f"min{key}" in schema and length < schema[f"min{key}"]:
        fail(f"must have at least {schema[f'min{key}']} {unit}")
    if f"max{key}" in schema and length > schema[f"max{key}"]:
        fail(f"must have at most {schema[f'max{key}']} {unit}")


def _is_type(value: Any, kind: Any) -> bool:
    if isinstance(kind, list):
        return any(_is_type(value, one) for one in kind)
    if kind == "number":
        return _is_number(value)
    if kind == "integer":
        return _is_number(value) and float(value).is_integer()
    expected = _TYPES.get(str(kind))
    return expected is None or (isinstance(value, expected) and not _bool_as_other(value, kind))


def _bool_as_other(value: Any, kind: Any) -> bool:
    return isinstance(value, bool) and kind != "boolean"


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)  # JSON has no NaN or Infinity
    )


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if _is_number(value):
        return "a number"
    if isinstance(value, float):
        return "a non-finite number"
    for kind, types in _TYPES.items():
        if isinstance(value, types):
            return _a(kind)
    return type(value).__name__


def _a(kind: Any) -> str:
    if isinstance(kind, list):
        return " or ".join(_a(one) for one in kind)
    return {"integer": "an integer", "array": "an array", "object": "an object"}.get(
        str(kind), f"a {kind}"
    )


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _input_is_object(action: Affordance) -> bool:
    schema = action.schema.get("input")
    return schema is None or schema.get("type", "object") == "object" and "properties" in schema


def action_signature(action: Affordance) -> inspect.Signature:
    """The Python signature of an action: one parameter per input property, in the TD's
    order, with the schema's default; keyword-only where the order mixes required and
    optional ones. An input that is not an object is one parameter, `input`."""
    schema = action.schema.get("input")
    if schema is None:
        return inspect.Signature()
    if not _input_is_object(action):
        default = schema.get("default", inspect.Parameter.empty)
        return inspect.Signature(
            [inspect.Parameter("input", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default)]
        )
    required = set(schema.get("required") or ())
    names = [name for name in schema["properties"] if name.isidentifier()]
    optional_seen, in_order = False, True
    for name in names:
        optional_seen = optional_seen or name not in required
        in_order = in_order and not (optional_seen and name in required)
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD if in_order else inspect.Parameter.KEYWORD_ONLY
    parameters = []
    for name in names:
        default = (
            inspect.Parameter.empty
            if name in required
            else schema["properties"][name].get("default", None)
        )
        parameters.append(inspect.Parameter(name, kind, default=default))
    return inspect.Signature(parameters)


def action_body(action: Affordance, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
    """The JSON body of a call with `args` and `kwargs`: the arguments given (defaults
    are the server's to apply), checked against the action's input schema. Raises
    InvalidArguments for a missing or unknown argument, InvalidInput for a bad value."""
    schema = action.schema.get("input")
    label = f"action {action.name!r}"
    if schema is None:
        if args or kwargs:
            raise InvalidArguments(f"{label} takes no arguments")
        return {}
    if _input_is_object(action) and not args:
        body: Any = dict(kwargs)  # names that are not identifiers come this way
        unknown = sorted(set(body) - set(schema["properties"]))
        if unknown:
            known = ", ".join(schema["properties"]) or "none"
            raise InvalidArguments(
                f"{label} has no argument {', '.join(map(repr, unknown))} (its arguments: {known})"
            )
    else:
        try:
            bound = action_signature(action).bind(*args, **kwargs)
        except TypeError as error:
            raise InvalidArguments(f"{label}: {error}") from None
        if _input_is_object(action):
            body = dict(bound.arguments)
        else:
            bound.apply_defaults()
            body = bound.arguments.get("input")
    errors = check_value(schema, body)
    if errors:
        problem = {
            "title": "Invalid input",
            "detail": f"invalid input for {label}",
            "errors": errors,
        }
        missing = [where for where, messages in errors.items() if "is required" in messages]
        kind = InvalidArguments if missing else InvalidInput
        details = "; ".join(
            f"{where} {' and '.join(messages)}" for where, messages in errors.items()
        )
        raise kind(f"{label}: {details}", problem)
    return body
