"""The OpenAPI object of each operation in the route table, before features add theirs.

Each function takes the `Target` of one concrete path (the server, a Thing, or one of
its affordances) and returns what only that operation knows: summary, operationId,
its own parameters, its success response and the errors particular to it. Features the
operation names (ETags, long-polling, pagination, JSON bodies, `Prefer`, event streams)
add their own parameters, headers and responses afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from labthings.core.describe.dataschema import field_schema, object_schema
from labthings.core.settings import Settings
from labthings.core.things.actions import ActionAffordance
from labthings.core.things.affordance import Affordance
from labthings.core.things.events import EventAffordance
from labthings.core.things.properties import PropertyAffordance
from labthings.core.things.registry import ThingEntry

__all__ = ["JSON", "PROBLEM", "Target", "problem_response", "ref"]

JSON = "application/json"
PROBLEM = "application/problem+json"

_Kind = TypeVar("_Kind", bound=Affordance)


@dataclass(frozen=True)
class Target:
    """What one concrete path is about: the server, one Thing, or an affordance of one."""

    entry: ThingEntry | None = None
    affordance: Affordance | None = None
    settings: Settings = field(default_factory=Settings)

    @property
    def thing(self) -> ThingEntry:
        """The Thing (only for per-Thing and per-affordance paths)."""
        assert self.entry is not None, "a server-wide path has no Thing"
        return self.entry

    def of(self, kind: type[_Kind]) -> _Kind:
        """The affordance, which the route's scope guarantees is a `kind`."""
        assert isinstance(self.affordance, kind)
        return self.affordance


def ref(name: str) -> dict[str, str]:
    """A reference to a schema in the document's components."""
    return {"$ref": f"#/components/schemas/{name}"}


def problem_response(description: str, validation: bool = False) -> dict[str, Any]:
    """A problem+json response (with the per-field `errors` of a 422 if `validation`)."""
    schema = ref("ValidationProblem" if validation else "Problem")
    return {"description": description, "content": {PROBLEM: {"schema": schema}}}


def add_response(responses: dict[str, Any], status: str, response: dict[str, Any]) -> None:
    """Document `response` under `status`; when features give one status two meanings,
    the descriptions are joined and each media type's body may be either schema."""
    existing = responses.get(status)
    if existing is None:
        responses[status] = response
        return
    existing["description"] += f" Or: {response['description']}"
    existing.setdefault("headers", {}).update(response.get("headers", {}))
    contents = existing.setdefault("content", {})
    for media, body in response.get("content", {}).items():
        if media in contents and contents[media]["schema"] != body["schema"]:
            contents[media] = {"schema": {"anyOf": [contents[media]["schema"], body["schema"]]}}
        else:
            contents.setdefault(media, body)


_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before polling again; only while unfinished.",
        "schema": {"type": "integer"},
    }
}


def _record_response(description: str, output: dict[str, Any] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = ref("InvocationRecord")
    if output is not None:
        output = {**output, "nullable": True}  # null until the invocation completes
        schema = {"allOf": [schema, {"type": "object", "properties": {"output": output}}]}
    return {
        "description": description,
        "headers": dict(_RETRY_AFTER),
        "content": {JSON: {"schema": schema}},
    }


def _records_response() -> dict[str, Any]:
    return {
        "description": "Invocation records, newest first.",
        "content": {JSON: {"schema": {"type": "array", "items": ref("InvocationRecord")}}},
    }


def _string_query(*names: str) -> list[dict[str, Any]]:
    return [{"name": name, "in": "query", "schema": {"type": "string"}} for name in names]


# -- the server ------------------------------------------------------------------------


def index(target: Target) -> dict[str, Any]:
    """`GET /`."""
    return {
        "summary": "The server's title, its Things and links to the rest.",
        "operationId": "index",
        "tags": ["server"],
        "responses": {
            "200": {"description": "The index.", "content": {JSON: {"schema": ref("Index")}}}
        },
    }


def introduction(target: Target) -> dict[str, Any]:
    """`GET /.well-known/wot`."""
    return {
        "summary": "The server's own Thing Description, linking to each Thing's.",
        "description": "W3C WoT Discovery's well-known entry point (also named by the"
        " `td` entry of the server's DNS-SD records): a TD whose `links` with"
        " `rel: item` lead to the TD of each Thing.",
        "operationId": "introduction",
        "tags": ["server"],
        "responses": {
            "200": {
                "description": "A W3C WoT Thing Description (TD 1.1) of the server.",
                "content": {"application/td+json": {"schema": {"type": "object"}}},
            }
        },
    }


def list_invocations(target: Target) -> dict[str, Any]:
    """`GET /actions`."""
    return {
        "summary": "Every invocation of every action.",
        "operationId": "list_invocations",
        "tags": ["server"],
        "parameters": _string_query("thing", "action"),
        "responses": {"200": _records_response()},
    }


def get_invocation(target: Target) -> dict[str, Any]:
    """`GET /actions/{id}`."""
    return {
        "summary": "One invocation record (optionally long-polled).",
        "operationId": "get_invocation",
        "tags": ["server"],
        "responses": {
            "200": _record_response("The record as it stands."),
            "404": problem_response("No such invocation (or evicted from history)."),
        },
    }


def get_output(target: Target) -> dict[str, Any]:
    """`GET /actions/{id}/output`."""
    return {
        "summary": "The output of a finished invocation, as a file.",
        "description": "A large or binary output (the record's `outputMediaType` is not"
        " null) is served here with its media type; any other output as JSON.",
        "operationId": "get_invocation_output",
        "tags": ["server"],
        "responses": {
            "200": {
                "description": "The output.",
                "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
            },
            "404": problem_response("No such invocation, or it has not completed."),
        },
    }


def cancel_invocation(target: Target) -> dict[str, Any]:
    """`DELETE /actions/{id}`."""
    return {
        "summary": "Cancel an invocation (cooperatively).",
        "operationId": "cancel_invocation",
        "tags": ["server"],
        "parameters": [
            {
                "name": "timeout",
                "in": "query",
                "description": "Seconds to wait for the task to stop (capped).",
                "schema": {"type": "number", "minimum": 0},
            }
        ],
        "responses": {
            "200": _record_response("The task has ended."),
            "202": _record_response("Cancellation asked for; the task is still stopping."),
            "404": problem_response("No such invocation."),
            "409": problem_response("The invocation had already finished; nothing changed."),
            "422": problem_response("The timeout is invalid.", True),
        },
    }


_TASK_EVENTS = (
    "Events `update` (the record's live members: status, progress, message, time"
    " remaining, data, checks), `log` (a new log entry) and"
    " `record` (the whole record when it finishes)."
)


def watch_invocation(target: Target) -> dict[str, Any]:
    """`GET /actions/{id}/events`."""
    return {
        "summary": "Follow one invocation live.",
        "description": "Starts with a `record` event (the record now) and ends after the"
        " final `record`. " + _TASK_EVENTS,
        "operationId": "watch_invocation",
        "tags": ["server"],
        "responses": {"404": problem_response("No such invocation.")},
    }


def watch_invocations(target: Target) -> dict[str, Any]:
    """`GET /actions/events`."""
    return {
        "summary": "Follow every invocation live.",
        "description": _TASK_EVENTS,
        "operationId": "watch_invocations",
        "tags": ["server"],
        "parameters": _string_query("thing", "action"),
    }


def watch_everything(target: Target) -> dict[str, Any]:
    """`GET /events`."""
    return {
        "summary": "Follow the whole server live on one connection.",
        "description": "Task messages as on /actions/events, `property` messages"
        " ({thing, name, value}) and `event` messages ({thing, name, data}).",
        "operationId": "watch_everything",
        "tags": ["server"],
        "parameters": _string_query("thing"),
        "responses": {"404": problem_response("No such thing.")},
    }


# -- a Thing ---------------------------------------------------------------------------


def thing_description(target: Target) -> dict[str, Any]:
    """`GET /{thing}/`."""
    entry = target.thing
    return {
        "summary": f"The Thing Description of {type(entry.thing).thing_title()}.",
        "operationId": f"{entry.name}_thing_description",
        "tags": [entry.name],
        "responses": {
            "200": {
                "description": "A W3C WoT Thing Description (TD 1.1).",
                "content": {"application/td+json": {"schema": {"type": "object"}}},
            }
        },
    }


def subscribe_all_events(target: Target) -> dict[str, Any]:
    """`GET /{thing}/events`."""
    entry = target.thing
    return {
        "summary": f"Subscribe to every event of {type(entry.thing).thing_title()}.",
        "description": "Each message is named after its event.",
        "operationId": f"{entry.name}_subscribe_all",
        "tags": [entry.name],
    }


# -- properties ------------------------------------------------------------------------


def read_property(target: Target) -> dict[str, Any]:
    """`GET /{thing}/properties/{name}`."""
    prop = target.of(PropertyAffordance)
    return {
        "summary": f"Read {prop.display_title}.",
        "description": prop.description,
        "operationId": f"{target.thing.name}_read_{prop.name}",
        "tags": [target.thing.name],
        "responses": {
            "200": {
                "description": "The current value.",
                "content": {JSON: {"schema": field_schema(prop.field)}},
            }
        },
    }


def write_property(target: Target) -> dict[str, Any]:
    """`PUT /{thing}/properties/{name}`."""
    prop = target.of(PropertyAffordance)
    schema = field_schema(prop.field)
    return {
        "summary": f"Write {prop.display_title}.",
        "description": prop.description,
        "operationId": f"{target.thing.name}_write_{prop.name}",
        "tags": [target.thing.name],
        "requestBody": {"required": True, "content": {JSON: {"schema": schema}}},
        "responses": {
            "200": {
                "description": "Written; the value as read back.",
                "content": {JSON: {"schema": schema}},
            },
            "204": {"description": "Written, but reading the value back failed."},
            "409": problem_response("The instrument is busy (its lock is held)."),
        },
    }


def observe_property(target: Target) -> dict[str, Any]:
    """`GET /{thing}/properties/{name}/events`."""
    prop = target.of(PropertyAffordance)
    return {
        "summary": f"Observe {prop.display_title}.",
        "description": f"Events named `{prop.name}` whose data is the value (schema:"
        f" {field_schema(prop.field)}); the first is the value now.",
        "operationId": f"{target.thing.name}_observe_{prop.name}",
        "tags": [target.thing.name],
    }


# -- actions ---------------------------------------------------------------------------


def invoke_action(target: Target) -> dict[str, Any]:
    """`POST /{thing}/actions/{name}`."""
    act = target.of(ActionAffordance)
    arguments = object_schema(act.input_schema)
    required = bool(arguments.get("required"))
    output = field_schema(act.output_field) if act.output_field is not None else None
    created = _record_response("Started; the record, finished if it ended in time.", output)
    created["headers"]["Location"] = {
        "description": "The record's URL.",
        "schema": {"type": "string"},
    }
    return {
        "summary": f"Start {act.display_title}.",
        "description": act.description,
        "operationId": f"{target.thing.name}_invoke_{act.name}",
        "tags": [target.thing.name],
        "requestBody": {
            "required": required,
            # Without required arguments, null means none, as {} does (WoT clients send it).
            "content": {
                JSON: {"schema": arguments if required else {**arguments, "nullable": True}}
            },
        },
        "responses": {
            "201": created,
            "503": problem_response("The server is shutting down."),
        },
    }


def list_action_invocations(target: Target) -> dict[str, Any]:
    """`GET /{thing}/actions/{name}`."""
    act = target.of(ActionAffordance)
    return {
        "summary": f"Invocations of {act.display_title}.",
        "operationId": f"{target.thing.name}_list_{act.name}",
        "tags": [target.thing.name],
        "responses": {"200": _records_response()},
    }


# -- events ----------------------------------------------------------------------------


def subscribe_event(target: Target) -> dict[str, Any]:
    """`GET /{thing}/events/{name}`."""
    event = target.of(EventAffordance)
    schema = field_schema(event.field)
    return {
        "summary": f"Subscribe to {event.display_title}.",
        "description": f"{event.description} Events named `{event.name}` with data of"
        f" schema {schema}.".strip(),
        "operationId": f"{target.thing.name}_subscribe_{event.name}",
        "tags": [target.thing.name],
    }
