"""Lists of invocations: the `pagination` feature (filters, `?limit=`, `Link: rel=next`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import Request
from werkzeug.datastructures import MultiDict

from labthings.core.describe.operations import Target, problem_response
from labthings.core.errors import ValidationError
from labthings.core.settings import Settings
from labthings.core.tasks.record import TaskStatus

__all__ = ["MAX_CURSOR", "ListQuery", "document", "next_page_link", "parse_list_query"]

MAX_CURSOR = 2**62
"""Cursors are positions in the history, which SQLite keeps as 64-bit integers."""


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
    before = _bounded_int(args, "cursor", 1, MAX_CURSOR, errors)
    if errors:
        raise ValidationError("invalid query parameters", errors)
    return ListQuery(
        thing=args.get("thing") or None,
        action=args.get("action") or None,
        statuses=frozenset(statuses),
        limit=settings.list_default_limit if limit is None else limit,
        before=before,
    )


def next_page_link(request: Request, cursor: int) -> str:
    """The `Link` header value pointing at the page that starts at `cursor`."""
    args = [(key, value) for key, value in request.args.items(multi=True) if key != "cursor"]
    args.append(("cursor", str(cursor)))
    return f'<{request.base_url}?{urlencode(args)}>; rel="next"'


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


def document(operation: dict[str, Any], target: Target) -> None:
    """`?status= &limit= &cursor=`, the `Link` header of the 200, and the 422."""
    operation.setdefault("parameters", []).extend(
        [
            {
                "name": "status",
                "in": "query",
                "description": "Only invocations in these states (repeat, or comma-separate).",
                "schema": {
                    "type": "array",
                    "items": {"type": "string", "enum": [status.value for status in TaskStatus]},
                },
                "style": "form",
                "explode": True,
            },
            {
                "name": "limit",
                "in": "query",
                "description": "At most this many records (a `Link: rel=next` header gives more).",
                "schema": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": target.settings.list_max_limit,
                },
            },
            {
                "name": "cursor",
                "in": "query",
                "description": "Where the next page starts, from a `Link: rel=next` header.",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_CURSOR},
            },
        ]
    )
    operation["responses"]["200"].setdefault("headers", {})["Link"] = {
        "description": "The next page, if any.",
        "schema": {"type": "string"},
    }
    operation["responses"]["422"] = problem_response("A query parameter is invalid.", True)
