"""Small helpers for the JSON values and timestamps that cross the HTTP boundary."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

__all__ = [
    "clean_text",
    "describe_json_type",
    "flatten_errors",
    "is_text",
    "json_text",
    "lone_surrogate_at",
    "nested_deeper_than",
    "now_utc",
    "to_json_value",
    "with_clean_text",
]


def now_utc() -> datetime:
    """The current time, timezone-aware in UTC (never naive)."""
    return datetime.now(timezone.utc)


def to_json_value(value: Any) -> Any:
    """`value` unchanged if it is strict JSON (no NaN or infinity), else a clear error.

    Tuples become lists. Raises `TypeError` for an object JSON cannot hold and
    `ValueError` for a non-finite float or a string holding a lone surrogate (which
    UTF-8 cannot encode), so the caller can say what went wrong.
    """
    if value is None or type(value) in (bool, int):
        return value  # the common case (most property reads): nothing to copy or check
    if type(value) is str:
        if is_text(value):
            return value
        raise ValueError(_SURROGATE)
    if type(value) is float:
        if math.isfinite(value):
            return value
        raise ValueError(_NON_FINITE)
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False)
    except TypeError as error:
        raise TypeError(f"not a JSON value: {error}") from None
    except ValueError:
        raise ValueError(_NON_FINITE) from None
    if not is_text(text):
        raise ValueError(_SURROGATE)
    return json.loads(text)


_NON_FINITE = "not a JSON value: NaN and infinity cannot be sent as JSON"
_SURROGATE = "not a JSON value: a string holds a lone surrogate (not Unicode text)"


def is_text(text: str) -> bool:
    """True unless `text` holds a lone surrogate (which is not Unicode text, and which
    UTF-8 cannot encode)."""
    return text.isascii() or _encodable(text)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def clean_text(text: str) -> str:
    """`text` with any lone surrogate replaced by U+FFFD, so that it can always be sent."""
    if is_text(text):
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def with_clean_text(value: Any) -> Any:
    """`value` with `clean_text` applied to every string and object key in it (lists,
    tuples and dicts are copied; anything else is kept as it is)."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, Mapping):
        return {
            clean_text(key) if isinstance(key, str) else key: with_clean_text(item)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [with_clean_text(item) for item in value]
    return value


# Made once: json.dumps with options builds an encoder on every call.
_STRICT_UTF8 = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_STRICT_ASCII = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def json_text(value: Any) -> str:
    """Compact strict JSON text of `value`: ValueError for NaN or infinity.

    Should a lone surrogate get this far, it is escaped (`\\ud800`) rather than left to
    break the UTF-8 encoding of a response or stream.
    """
    text = _STRICT_UTF8.encode(value)
    if is_text(text):
        return text
    return _STRICT_ASCII.encode(value)


def lone_surrogate_at(value: Any) -> str | None:
    """The dotted path of the first string (or object key) holding a lone surrogate in
    a decoded JSON value ("" for the value itself), or None if there is none."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if not _encodable(item):
                return path
        elif isinstance(item, dict):
            for key, inner in item.items():
                inner_path = f"{path}.{key}" if path else str(key)
                if not _encodable(key):
                    return inner_path
                stack.append((inner_path, inner))
        elif isinstance(item, list):
            stack.extend(
                (f"{path}.{index}" if path else str(index), inner)
                for index, inner in enumerate(item)
            )
    return None


def nested_deeper_than(value: Any, limit: int) -> bool:
    """True if arrays and objects in a decoded JSON value nest deeper than `limit`."""
    stack: list[tuple[int, Any]] = [(0, value)]
    while stack:
        depth, item = stack.pop()
        if isinstance(item, (dict, list)):
            depth += 1
            if depth > limit:
                return True
            inner = item.values() if isinstance(item, dict) else item
            stack.extend((depth, each) for each in inner if isinstance(each, (dict, list)))
    return False


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
