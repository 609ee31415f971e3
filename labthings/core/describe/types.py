"""Marshmallow fields from Python type hints, and JSON-strict field types.

`field_for_hint(int)` gives the field that validates and documents an `int` argument or
property, so that instrument authors rarely write a field by hand. JSON is strict here:
`"1"` is not an integer, `true` is not a number and `1.5` is not an int.
"""

from __future__ import annotations

import copy
import enum
import types
import typing
from collections.abc import Mapping
from typing import Any, Union

from marshmallow import Schema, fields, validate

from labthings.core.errors import ConfigurationError
from labthings.core.things.blob import Blob

__all__ = [
    "StrictBoolean",
    "StrictFloat",
    "StrictInteger",
    "field_for_hint",
    "schema_for_fields",
]


class StrictInteger(fields.Integer):
    """An integer that refuses booleans, strings and non-integral numbers."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _validated(self, value: Any) -> int:
        if isinstance(value, (bool, str)):
            raise self.make_error("invalid")
        return super()._validated(value)


class StrictFloat(fields.Float):
    """A finite number that refuses booleans and strings (integers are accepted)."""

    def _validated(self, value: Any) -> float:
        if isinstance(value, (bool, str)):
            raise self.make_error("invalid")
        return super()._validated(value)


class StrictBoolean(fields.Boolean):
    """Only JSON `true` and `false`."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        # A numpy boolean becomes JSON's through `.item()`; anything else that is not a
        # boolean is left as it is, for the JSON check to refuse.
        item = getattr(value, "item", None)
        if not isinstance(value, bool) and callable(item) and isinstance(item(), bool):
            return item()
        return super()._serialize(value, attr, obj, **kwargs)


_SCALARS: dict[Any, type[fields.Field]] = {
    int: StrictInteger,
    float: StrictFloat,
    bool: StrictBoolean,
    str: fields.String,
}


def field_for_hint(hint: Any, **kwargs: Any) -> fields.Field:
    """The marshmallow field that validates and documents values of type `hint`.

    Supports int, float, bool, str, None-able types (`X | None`, `Optional[X]`),
    `list[X]`, `tuple[X, ...]`, `tuple[X, Y]`, `dict`/`dict[str, X]`, `Literal[...]` of
    strings or ints, `Enum` subclasses, `typing.Any`, and `Annotated[X, field]` where the
    field given wins. Keyword arguments (e.g. `load_default`, `required`) are passed to
    the field. Raises `ConfigurationError` for a hint it cannot express.
    """
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        for extra in hint.__metadata__:
            if isinstance(extra, fields.Field):
                return _with_options(extra, kwargs)
        return field_for_hint(typing.get_args(hint)[0], **kwargs)
    if hint is Blob:
        return fields.Raw(
            metadata={
                "description": "A file: the record's `output` link serves it with its media"
                " type (`outputMediaType`)."
            },
            **kwargs,
        )
    if hint is Any or hint is object:
        return fields.Raw(**{**kwargs, "allow_none": True})
    if hint is type(None) or hint is None:
        return fields.Constant(None, **{**kwargs, "allow_none": True})
    if origin in (Union, types.UnionType):
        members = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(members) != 1:
            raise ConfigurationError(f"cannot express {hint!r}: only X | None unions")
        return field_for_hint(members[0], **{**kwargs, "allow_none": True})
    if hint in _SCALARS:
        return _SCALARS[hint](**kwargs)
    if origin is typing.Literal:
        return _literal_field(typing.get_args(hint), kwargs)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return fields.Enum(hint, by_value=True, **kwargs)
    if hint is list or origin is list:
        args = typing.get_args(hint)
        return fields.List(field_for_hint(args[0] if args else Any), **kwargs)
    if hint is tuple or origin is tuple:
        return _tuple_field(typing.get_args(hint), kwargs)
    if hint is dict or origin is dict or origin is Mapping:
        args = typing.get_args(hint)
        if args and args[0] is not str:
            raise ConfigurationError(f"cannot express {hint!r}: JSON object keys are strings")
        values = field_for_hint(args[1]) if args else None
        return fields.Dict(keys=fields.String(), values=values, **kwargs)
    raise ConfigurationError(
        f"labthings cannot describe the type {_hint_name(hint)} as JSON; use int, float, "
        "bool, str, None, a list, tuple or dict[str, ...] of those, a Literal or an Enum, "
        "or give a marshmallow field with Annotated[T, fields.X(...)]"
    )


def _hint_name(hint: Any) -> str:
    """`bytes` for a class, the hint's own text otherwise (`list[bytes]`)."""
    return hint.__qualname__ if isinstance(hint, type) else repr(hint)


def schema_for_fields(name: str, declared: Mapping[str, fields.Field]) -> Schema:
    """A marshmallow Schema instance with the given fields that rejects unknown keys."""
    schema_class = Schema.from_dict(dict(declared), name=name)
    return schema_class()


def _with_options(field: fields.Field, options: dict[str, Any]) -> fields.Field:
    """A copy of `field` with `required`/`load_default`/`allow_none` from a signature.

    The copy matters: one `Annotated` alias is often reused for several arguments and
    properties, and changing the shared field would change all of them.
    """
    field = copy.deepcopy(field)
    if "required" in options:
        field.required = options["required"]
    if "load_default" in options:
        field.load_default = options["load_default"]
    if options.get("allow_none"):
        field.allow_none = True
    return field


def _literal_field(values: tuple[Any, ...], kwargs: dict[str, Any]) -> fields.Field:
    if all(isinstance(value, str) for value in values):
        return fields.String(validate=validate.OneOf(values), **kwargs)
    if all(isinstance(value, int) and not isinstance(value, bool) for value in values):
        return StrictInteger(validate=validate.OneOf(values), **kwargs)
    raise ConfigurationError(f"Literal{list(values)!r}: use only strings or only integers")


def _tuple_field(args: tuple[Any, ...], kwargs: dict[str, Any]) -> fields.Field:
    if not args or (len(args) == 2 and args[1] is Ellipsis):
        item = field_for_hint(args[0]) if args else fields.Raw()
        return fields.List(item, **kwargs)
    return fields.Tuple(tuple(field_for_hint(arg) for arg in args), **kwargs)
