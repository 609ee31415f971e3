"""Reading what a request asks for: its JSON body, `Prefer` header and query strings."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Request
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

from labthings.core.errors import ValidationError
from labthings.core.settings import Settings
from labthings.core.tasks.thread import TaskStatus

__all__ = [
    "NO_BODY",
    "ListQuery",
    "Preferences",
    "json_body",
    "parse_list_query",
    "parse_seconds",
]

NO_BODY: Any = object()
"""What `json_body` returns for an empty body."""


def json_body(request: Request) -> Any:
    """The request's JSON body, or `NO_BODY` when there is none.

    Raises 413 (too large, from Flask's MAX_CONTENT_LENGTH), 415 (not JSON) and 400
    (malformed JSON) with a message saying what to send instead.
    """
    data = request.get_data(cache=True)
    if not data:
        return NO_BODY
    mimetype = request.mimetype
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        shown = mimetype or "no Content-Type"
        raise UnsupportedMediaType(
            f"the body must be JSON sent with Content-Type: application/json (got {shown})"
        )
    try:
        return json.loads(data)
    except (UnicodeDecodeError, ValueError) as error:
        raise BadRequest(f"the body is not valid JSON: {error}") from None


@dataclass(frozen=True)
class Preferences:
    """What a `Prefer` header (RFC 7240) asks of a POST: how long to wait for the result."""

    wait: float
    applied: str | None

    @classmethod
    def parse(cls, headers: Iterable[str], default_wait: float, max_wait: float) -> Preferences:
        """`wait=N` (capped at `max_wait`) wins; else `respond-async` means no wait.

        Preferences that cannot be understood are ignored, as the RFC asks.
        """
        tokens: dict[str, str] = {}
        for header in headers:
            for item in header.split(","):
                name, _, value = item.split(";")[0].strip().partition("=")
                if name:
                    tokens.setdefault(name.strip().lower(), value.strip().strip('"'))
        if "wait" in tokens:
            try:
                asked = float(tokens["wait"])
            except ValueError:
                asked = math.nan
            if math.isfinite(asked) and asked >= 0:
                wait = min(asked, max_wait)
                return cls(wait, f"wait={_seconds(wait)}")
        if "respond-async" in tokens:
            return cls(0.0, "respond-async")
        return cls(min(default_wait, max_wait), None)


@dataclass(frozen=True)
class ListQuery:
    """Filters and paging of a list of invocations."""

    thing: str | None
    action: str | None
    statuses: frozenset[TaskStatus]
    limit: int
    before: int | None


def parse_list_query(args: MultiDict[str, str], settings: Settings) -> ListQuery:
    """`?thing= &action= &status= (repeatable) &limit= &cursor=`, or 422 naming bad ones."""
    errors: dict[str, list[str]] = {}
    statuses: set[TaskStatus] = set()
    for value in args.getlist("status"):
        for part in value.split(","):
            try:
                statuses.add(TaskStatus(part.strip()))
            except ValueError:
                allowed = ", ".join(status.value for status in TaskStatus)
                errors.setdefault("status", []).append(f"{part!r} is not one of: {allowed}")
    limit = _bounded_int(args, "limit", 1, settings.list_max_limit, errors)
    before = _bounded_int(args, "cursor", 1, None, errors)
    if errors:
        raise ValidationError("invalid query parameters", errors)
    return ListQuery(
        thing=args.get("thing") or None,
        action=args.get("action") or None,
        statuses=frozenset(statuses),
        limit=settings.list_default_limit if limit is None else limit,
        before=before,
    )


def parse_seconds(args: Mapping[str, str], name: str, default: float, maximum: float) -> float:
    """A `?<name>=` number of seconds, capped at `maximum`, or 422 naming it."""
    raw = args.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ValidationError(
            "invalid query parameters", {name: [f"{raw!r} is not a number of seconds >= 0"]}
        )
    return min(value, maximum)


def _bounded_int(
    args: Mapping[str, str], name: str, low: int, high: int | None, errors: dict[str, list[str]]
) -> int | None:
    """The integer parameter or None if absent; a bad one is added to `errors`."""
    raw = args.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        errors[name] = [f"{raw!r} is not an integer"]
        return None
    if value < low or (high is not None and value > high):
        upper = f" and <= {high}" if high is not None else ""
        errors[name] = [f"must be >= {low}{upper}"]
        return None
    return value


def _seconds(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"
