"""Long-polling one invocation record: `GET /actions/<id>?wait=N` (or `Prefer: wait=N`).

The `long-poll` feature: the request waits up to N seconds (capped) for the record to
change from the version named by `If-None-Match`, or else from the record as it was when
the request arrived, then answers with the record as it stands.
"""

from __future__ import annotations

from typing import Any

from flask import Request

from labthings.core.describe.operations import Target, problem_response
from labthings.core.settings import Settings
from labthings.core.tasks.finished import Invocation
from labthings.http.etags import version_in_etag
from labthings.http.prefer import Preferences
from labthings.http.requests import header_values, parse_seconds

__all__ = ["document", "wait_for_change"]


def wait_for_change(task: Invocation, request: Request, settings: Settings) -> None:
    """Block (bounded) until `task` differs from the version the client has, if asked to."""
    if "wait" in request.args:
        wait = parse_seconds(request.args, "wait", 0.0, settings.max_wait)
    else:
        wait = Preferences.parse(header_values(request, "Prefer"), 0.0, settings.max_wait).wait
    if wait <= 0 or task.finished:
        return
    version = task.version
    for tag in request.if_none_match.as_set(include_weak=True):
        known = version_in_etag(task, tag) if tag else None  # `""` parses to no tag at all
        if known is not None:
            version = known
    task.wait_for_change(version, wait)


def document(operation: dict[str, Any], target: Target) -> None:
    """The `wait` query parameter and `Prefer: wait=N`, and the 422 of a bad `wait`."""
    operation.setdefault("parameters", []).extend(
        [
            {
                "name": "wait",
                "in": "query",
                "description": "Wait up to this many seconds (capped) for the record to change "
                "from the version in If-None-Match, or from now.",
                "schema": {"type": "number", "minimum": 0},
            },
            {
                "name": "Prefer",
                "in": "header",
                "description": "`wait=N`: the same as `?wait=N`.",
                "schema": {"type": "string"},
            },
        ]
    )
    operation["responses"]["422"] = problem_response("`wait` is not a number of seconds.", True)
