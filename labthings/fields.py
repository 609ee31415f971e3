"""Marshmallow's fields, with JSON-strict numbers and booleans.

`from labthings import fields` gives everything `marshmallow.fields` has, except that
`Integer`/`Int`, `Float` and `Boolean`/`Bool` refuse what JSON would not call by that
name: `"1"`, `true` or `1.5` are not integers, `"1.5"` is not a number, `"yes"` is not a
boolean. Use `marshmallow.fields` directly if you want its lenient parsing.
"""

from marshmallow.fields import (
    IP,
    URL,
    UUID,
    AwareDateTime,
    Constant,
    Date,
    DateTime,
    Decimal,
    Dict,
    Email,
    Enum,
    Field,
    Function,
    IPInterface,
    IPv4,
    IPv4Interface,
    IPv6,
    IPv6Interface,
    List,
    Mapping,
    Method,
    NaiveDateTime,
    Nested,
    Number,
    Pluck,
    Raw,
    Str,
    String,
    Time,
    TimeDelta,
    Tuple,
    Url,
)

from labthings.core.describe.types import StrictBoolean as Boolean
from labthings.core.describe.types import StrictFloat as Float
from labthings.core.describe.types import StrictInteger as Integer

Int = Integer
Bool = Boolean

__all__ = [
    "IP", "URL", "UUID", "AwareDateTime", "Bool", "Boolean", "Constant", "Date", "DateTime",
    "Decimal", "Dict", "Email", "Enum", "Field", "Float", "Function", "IPInterface", "IPv4",
    "IPv4Interface", "IPv6", "IPv6Interface", "Int", "Integer", "List", "Mapping", "Method",
    "NaiveDateTime", "Nested", "Number", "Pluck", "Raw", "Str", "String", "Time",
    "TimeDelta", "Tuple", "Url",
]  # fmt: skip
