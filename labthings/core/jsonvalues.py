"""Small helpers for the JSON values and timestamps that cross the HTTP boundary."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

__all__ = ["describe_json_type", "flatten_errors", "now_utc", "to_json_value"]


def now_utc() -> datetime:
    """The current time, timezone-aware in UTC (never naive)."""
    return datetime.now(timezone.utc)


def to_json_value(value: Any) -> Any:
    """`value` unchanged if it is strict JSON (no NaN or infinity), else a clear error.

    Tuples become lists. Raises `TypeError` for an object JSON cannot hold and
    `ValueError` for a non-finite float, so the caller can say what went wrong.
    """
    if value is None or type(value) in (str, bool, int):
        return value  # the common case (most property reads): nothing to copy or check
    if type(value) is float:
        if math.isfinite(value):
            return value
        raise ValueError("not a JSON value: NaN and infinity cannot be sent as JSON")
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except TypeError as error:
        raise TypeError(f"not a JSON value: {error}") from None
    except ValueError:
        raise ValueError("not a JSON value: NaN and infinity cannot be sent as JSON") from None


def flatten_errors(messages: Any) -> dict[str, list[str]]:
    """Marshmallow's nested error messages as `{"field.path": [messages]}`.

    Messages that belong to the whole value rather than a field go under `_schema`.
    """
    flat: dict[str, list[str]] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, (list, tuple)):
            for item in value:
                if isinstance(item, str):
                    flat.setdefault(prefix or "_schema", []).append(item)
                else:
                    walk(prefix, item)
        else:
            flat.setdefault(prefix or "_schema", []).append(str(value))

    walk("", messages)
    return flat


def describe_json_type(value: Any) -> str:
    """'a number', 'a string', ... for error messages about the shape of a body."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__
