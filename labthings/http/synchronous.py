"""A POST that answers with the action's output: `POST /<thing>/actions/<name>?sync=true`.

The `synchronous` feature, the W3C WoT Profile's Synchronous Action Response: generic
WoT consumers (node-wot's `invokeAction`) take the POST's answer as the output and
cannot query an invocation afterwards, so this form waits for the invocation to end
(up to the `sync_wait` setting, 5 s, capped by `max_wait`) and answers:

- `200` with the output (JSON, or a file output with its media type), or `204` for an
  action that declares no output and returned none;
- `500` with the action's problem (`urn:labthings:problem:action-failed`) if it failed,
  `422` if it refused its input (it raised `ValidationError`:
  `urn:labthings:problem:input-refused`, with `errors`), `409` if it was cancelled; each
  problem's `instance` is the invocation record;
- `201` with the invocation record, as a POST without `sync` does, if it is still
  running at `sync_wait` (the Profile's Asynchronous Action Response, which conforming
  consumers accept too), or if the request states a `Prefer` (`respond-async`,
  `wait=N`): a client that says how long to wait wants the record.

Every invocation has its record either way, listed under `/actions`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Response, send_file
from werkzeug.wrappers import Response as BaseResponse

from labthings.core.describe.dataschema import field_schema
from labthings.core.describe.operations import JSON, Target, add_response, problem_response
from labthings.core.errors import ValidationError
from labthings.core.tasks.finished import Invocation
from labthings.core.tasks.record import TaskStatus, record_href
from labthings.core.tasks.runner import TaskRunner
from labthings.core.tasks.thread import INPUT_REFUSED
from labthings.core.things.actions import ActionAffordance
from labthings.http.problems import PROBLEM_MIMETYPE, problem
from labthings.http.responses import json_response

__all__ = ["QUERY", "document", "output_response", "wants_output"]

QUERY = "sync"
_FLAGS = {"true": True, "false": False}


def wants_output(args: Mapping[str, str]) -> bool:
    """Whether `?sync=true` asks for the output; 422 for a value other than true/false."""
    raw = args.get(QUERY)
    if raw is None:
        return False
    if raw not in _FLAGS:
        problem = f"{raw!r} is not true or false"
        raise ValidationError("invalid query parameters", {QUERY: [problem]})
    return _FLAGS[raw]


def output_response(
    task: Invocation, affordance: ActionAffordance, runner: TaskRunner, root: str
) -> BaseResponse:
    """The answer for a finished invocation: its output, or the problem that ended it."""
    href = record_href(root, task.id)
    record = task.snapshot()
    if task.status is TaskStatus.ERROR:
        failure: dict[str, Any] = dict(record["error"] or {})
        status = 422 if failure.get("type") == INPUT_REFUSED else 500
        failure.update(status=status, instance=href)
        return json_response(failure, status, mimetype=PROBLEM_MIMETYPE)
    if task.status is TaskStatus.CANCELLED:
        return problem(409, f"invocation {task.id} was cancelled before it ended", instance=href)
    found = runner.output_file(task.id)
    if found is not None:
        path, media_type = found
        return send_file(path, mimetype=media_type, etag=False, max_age=0)
    if record["output"] is None and affordance.output_field is None:
        return Response(status=204)
    return json_response(record["output"])


def document(operation: dict[str, Any], target: Target) -> None:
    """The `sync` query parameter and the answers it brings."""
    act = target.of(ActionAffordance)
    output = field_schema(act.output_field) if act.output_field is not None else {}
    operation.setdefault("parameters", []).append(
        {
            "name": QUERY,
            "in": "query",
            "description": "true: wait for the invocation to end (up to the server's"
            " sync_wait, 5 s by default)"
            " and answer with its output alone (WoT Profile: Synchronous Action Response),"
            " unless a `Prefer` header asks for the record.",
            "schema": {"type": "boolean"},
        }
    )
    responses = operation["responses"]
    add_response(
        responses,
        "200",
        {
            "description": "With sync=true: the invocation completed; its output.",
            "content": {
                JSON: {"schema": output},
                "*/*": {"schema": {"type": "string", "format": "binary"}},
            },
        },
    )
    add_response(
        responses,
        "204",
        {"description": "With sync=true: completed, and the action has no output."},
    )
    add_response(
        responses, "409", problem_response("With sync=true: the invocation was cancelled.")
    )
    add_response(
        responses, "500", problem_response("With sync=true: the action failed; its problem.")
    )
    add_response(
        responses,
        "422",
        problem_response(
            "With sync=true: the action refused an input its schema allows (e.g. a target"
            " outside a stage's limits); `errors` names the fields.",
            True,
        ),
    )
