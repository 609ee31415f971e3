"""The OpenAPI description of the event streams (Server-Sent Events) and of polling.

SSE bodies are `text/event-stream`; OpenAPI cannot describe the messages inside, so each
operation's description says which events it sends and what their data are.
"""

from __future__ import annotations

from typing import Any

from labthings.core.describe.dataschema import field_schema
from labthings.core.things.registry import ThingEntry

__all__ = ["event_paths", "polling_parameters", "server_stream_paths"]

_STREAM = "text/event-stream"
_MESSAGE = {
    "type": "object",
    "description": "One Server-Sent Events message; `data` is JSON text.",
    "properties": {
        "event": {"type": "string"},
        "id": {"type": "string"},
        "data": {"type": "string"},
    },
}
_RESUME = {
    "name": "Last-Event-ID",
    "in": "header",
    "description": "Resume after this event id (sent by EventSource on reconnection).",
    "schema": {"type": "string"},
}


def _stream(summary: str, description: str, operation_id: str, tag: str) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "description": description
            + ' A `missed` event ({"count": n}) says updates were dropped because the'
            " client fell behind; `: keep-alive` comments arrive while nothing happens.",
            "operationId": operation_id,
            "tags": [tag],
            "parameters": [_RESUME],
            "responses": {
                "200": {
                    "description": "An event stream.",
                    "content": {_STREAM: {"schema": _MESSAGE}},
                },
                "404": {"description": "Unknown thing, affordance or invocation."},
            },
        }
    }


def server_stream_paths() -> dict[str, Any]:
    """The task streams: one invocation, and all of them."""
    task_events = (
        "Events `update` (status, progress, message, data), `log` (a new log entry) and"
        " `record` (the whole record when it finishes)."
    )
    one = _stream(
        "Follow one invocation live.",
        "Starts with a `record` event (the record now) and ends after the final `record`. "
        + task_events,
        "watch_invocation",
        "server",
    )
    one["parameters"] = [
        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    ]
    every = _stream("Follow every invocation live.", task_events, "watch_invocations", "server")
    every["get"]["parameters"] = every["get"]["parameters"] + [
        {"name": name, "in": "query", "schema": {"type": "string"}} for name in ("thing", "action")
    ]
    everything = _stream(
        "Follow the whole server live on one connection.",
        "Task messages as on /actions/events, `property` messages ({thing, name, value})"
        " and `event` messages ({thing, name, data}).",
        "watch_everything",
        "server",
    )
    everything["get"]["parameters"] = everything["get"]["parameters"] + [
        {"name": "thing", "in": "query", "schema": {"type": "string"}}
    ]
    return {"/actions/{id}/events": one, "/actions/events": every, "/events": everything}


def event_paths(entry: ThingEntry) -> dict[str, Any]:
    """Property observation and Thing event streams of one Thing."""
    thing_class = type(entry.thing)
    paths: dict[str, Any] = {}
    for name, prop in thing_class.properties().items():
        schema = field_schema(prop.field)
        paths[f"/{entry.name}/properties/{name}/events"] = _stream(
            f"Observe {prop.title or name}.",
            f"Events named `{name}` whose data is the value (schema: {schema}); the first"
            " is the value now.",
            f"{entry.name}_observe_{name}",
            entry.name,
        )
    for name, event in thing_class.events().items():
        schema = field_schema(event.field)
        paths[f"/{entry.name}/events/{name}"] = _stream(
            f"Subscribe to {event.title or name}.",
            f"{event.description} Events named `{name}` with data of schema {schema}.".strip(),
            f"{entry.name}_subscribe_{name}",
            entry.name,
        )
    paths[f"/{entry.name}/events"] = _stream(
        f"Subscribe to every event of {thing_class.thing_title()}.",
        "Each message is named after its event.",
        f"{entry.name}_subscribe_all",
        entry.name,
    )
    return paths


def polling_parameters() -> list[dict[str, Any]]:
    """`?wait=` and `Prefer: wait=` for long-polling one record."""
    return [
        {
            "name": "wait",
            "in": "query",
            "description": "Wait up to this many seconds (capped) for the record to change "
            "from the version in If-None-Match, or from now.",
            "schema": {"type": "number", "minimum": 0},
        },
        {
            "name": "If-None-Match",
            "in": "header",
            "description": "The ETag of the record you have: 304 if it is still current.",
            "schema": {"type": "string"},
        },
    ]
