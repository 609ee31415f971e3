"""The OpenAPI 3 document of a server, built once from its registry (no Flask here)."""

from __future__ import annotations

from typing import Any

from labthings.core.describe.dataschema import OPENAPI_VERSION, field_schema, object_schema
from labthings.core.describe.openapi_streams import (
    event_paths,
    polling_parameters,
    server_stream_paths,
)
from labthings.core.settings import Settings
from labthings.core.tasks.thread import TaskStatus
from labthings.core.things.actions import ActionAffordance
from labthings.core.things.properties import PropertyAffordance
from labthings.core.things.registry import ThingEntry, ThingRegistry

__all__ = ["build_openapi"]

_JSON = "application/json"
_PROBLEM = "application/problem+json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _problem(description: str, validation: bool = False) -> dict[str, Any]:
    schema = _ref("ValidationProblem" if validation else "Problem")
    return {"description": description, "content": {_PROBLEM: {"schema": schema}}}


_BODY_ERRORS = {
    "400": _problem("The body is not valid JSON."),
    "413": _problem("The body is larger than the server accepts."),
    "415": _problem("The body is not JSON."),
    "422": _problem("The body does not match the schema; `errors` names each field.", True),
}

_COMPONENTS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "description": "An RFC 9457 problem.",
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
        },
        "required": ["type", "title"],
    },
    "ValidationProblem": {
        "allOf": [
            _ref("Problem"),
            {
                "type": "object",
                "properties": {
                    "errors": {
                        "type": "object",
                        "additionalProperties": {"type": "array", "items": {"type": "string"}},
                    }
                },
                "required": ["errors"],
            },
        ]
    },
    "Link": {
        "type": "object",
        "properties": {"rel": {"type": "string"}, "href": {"type": "string"}},
        "required": ["rel", "href"],
    },
    "LogEntry": {
        "type": "object",
        "properties": {
            "levelname": {"type": "string"},
            "levelno": {"type": "integer"},
            "message": {"type": "string"},
            "created": {"type": "string", "format": "date-time"},
            "logger": {"type": "string"},
        },
    },
    "InvocationRecord": {
        "type": "object",
        "description": "One invocation of an action, as it stands.",
        "properties": {
            "id": {"type": "string"},
            "action": {"type": "string"},
            "thing": {"type": "string"},
            "href": {"type": "string", "format": "uri"},
            "status": {"type": "string", "enum": [status.value for status in TaskStatus]},
            "progress": {"type": "integer", "minimum": 0, "maximum": 100, "nullable": True},
            "message": {"type": "string", "nullable": True},
            "cancelRequested": {"type": "boolean"},
            "data": {"type": "object"},
            "input": {"type": "object"},
            "output": {"nullable": True},
            "error": {"allOf": [_ref("Problem")], "nullable": True},
            "log": {"type": "array", "items": _ref("LogEntry")},
            "timeRequested": {"type": "string", "format": "date-time"},
            "timeStarted": {"type": "string", "format": "date-time", "nullable": True},
            "timeCompleted": {"type": "string", "format": "date-time", "nullable": True},
            "links": {"type": "array", "items": _ref("Link")},
        },
        "required": ["id", "action", "thing", "href", "status", "input", "links"],
    },
    "Index": {
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "description": {"type": "string"},
            "things": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "properties": {"title": {"type": "string"}, "href": {"type": "string"}},
                },
            },
            "links": {"type": "array", "items": _ref("Link")},
        },
    },
}

_RECORD_HEADERS = {
    "Retry-After": {
        "description": "Seconds to wait before polling again; only while unfinished.",
        "schema": {"type": "integer"},
    }
}


def _list_parameters(max_limit: int) -> list[dict[str, Any]]:
    return [
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
            "schema": {"type": "integer", "minimum": 1, "maximum": max_limit},
        },
        {
            "name": "cursor",
            "in": "query",
            "description": "Where the next page starts, from a `Link: rel=next` header.",
            "schema": {"type": "integer", "minimum": 1},
        },
    ]


def _list_operation(
    summary: str, operation_id: str, extra: list[dict[str, Any]], max_limit: int
) -> dict[str, Any]:
    return {
        "summary": summary,
        "operationId": operation_id,
        "parameters": extra + _list_parameters(max_limit),
        "responses": {
            "200": {
                "description": "Invocation records, newest first.",
                "headers": {
                    "Link": {"description": "The next page, if any.", "schema": {"type": "string"}}
                },
                "content": {
                    _JSON: {"schema": {"type": "array", "items": _ref("InvocationRecord")}}
                },
            },
            "422": _problem("A query parameter is invalid.", True),
        },
    }


def _record_content(description: str, output: dict[str, Any] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = _ref("InvocationRecord")
    if output is not None:
        output = {**output, "nullable": True}  # null until the invocation completes
        schema = {"allOf": [schema, {"type": "object", "properties": {"output": output}}]}
    return {
        "description": description,
        "headers": _RECORD_HEADERS,
        "content": {_JSON: {"schema": schema}},
    }


def _server_paths(max_limit: int) -> dict[str, Any]:
    id_parameter = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    return {
        "/": {
            "get": {
                "summary": "The server's title, its Things and links to the rest.",
                "operationId": "index",
                "tags": ["server"],
                "responses": {
                    "200": {
                        "description": "The index.",
                        "content": {_JSON: {"schema": _ref("Index")}},
                    }
                },
            }
        },
        "/actions": {
            "get": {
                **_list_operation(
                    "Every invocation of every action.",
                    "list_invocations",
                    [
                        {"name": name, "in": "query", "schema": {"type": "string"}}
                        for name in ("thing", "action")
                    ],
                    max_limit,
                ),
                "tags": ["server"],
            }
        },
        "/actions/{id}": {
            "parameters": [id_parameter],
            "get": {
                "summary": "One invocation record (optionally long-polled).",
                "operationId": "get_invocation",
                "tags": ["server"],
                "parameters": polling_parameters(),
                "responses": {
                    "200": _record_content("The record as it stands."),
                    "304": {"description": "Unchanged from the ETag in If-None-Match."},
                    "404": _problem("No such invocation (or evicted from history)."),
                    "422": _problem("`wait` is not a number of seconds.", True),
                },
            },
            "delete": {
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
                    "200": _record_content("The task has ended."),
                    "202": _record_content("Cancellation asked for; the task is still stopping."),
                    "404": _problem("No such invocation."),
                    "409": _problem("The invocation had already finished; nothing changed."),
                    "422": _problem("The timeout is invalid.", True),
                },
            },
        },
    }


def _property_paths(entry: ThingEntry, prop: PropertyAffordance) -> dict[str, Any]:
    schema = field_schema(prop.field)
    operations: dict[str, Any] = {
        "get": {
            "summary": f"Read {prop.title or prop.name}.",
            "description": prop.description,
            "operationId": f"{entry.name}_read_{prop.name}",
            "tags": [entry.name],
            "responses": {
                "200": {
                    "description": "The current value (with an ETag).",
                    "content": {_JSON: {"schema": schema}},
                },
                "304": {"description": "Unchanged from the ETag in If-None-Match."},
            },
        }
    }
    if not prop.readonly:
        operations["put"] = {
            "summary": f"Write {prop.title or prop.name}.",
            "description": prop.description,
            "operationId": f"{entry.name}_write_{prop.name}",
            "tags": [entry.name],
            "requestBody": {"required": True, "content": {_JSON: {"schema": schema}}},
            "responses": {
                "200": {
                    "description": "Written; the value as read back.",
                    "content": {_JSON: {"schema": schema}},
                },
                **_BODY_ERRORS,
                "409": _problem("The instrument is busy (its lock is held)."),
            },
        }
    return operations


def _action_paths(entry: ThingEntry, act: ActionAffordance, max_limit: int) -> dict[str, Any]:
    arguments = object_schema(act.input_schema)
    output = field_schema(act.output_field) if act.output_field is not None else None
    post = {
        "summary": f"Start {act.title}.",
        "description": act.description,
        "operationId": f"{entry.name}_invoke_{act.name}",
        "tags": [entry.name],
        "parameters": [
            {
                "name": "Prefer",
                "in": "header",
                "description": "`wait=N` to wait up to N s for the result, or `respond-async`.",
                "schema": {"type": "string"},
            }
        ],
        "requestBody": {
            "required": bool(arguments.get("required")),
            "content": {_JSON: {"schema": arguments}},
        },
        "responses": {
            "201": {
                **_record_content("Started; the record, finished if it ended in time.", output),
                "headers": {
                    **_RECORD_HEADERS,
                    "Location": {"description": "The record's URL.", "schema": {"type": "string"}},
                },
            },
            **_BODY_ERRORS,
            "503": _problem("The server is shutting down."),
        },
    }
    get = _list_operation(
        f"Invocations of {act.title}.", f"{entry.name}_list_{act.name}", [], max_limit
    )
    get["tags"] = [entry.name]
    return {"post": post, "get": get}


def build_openapi(
    *, title: str, description: str, version: str, registry: ThingRegistry, settings: Settings
) -> dict[str, Any]:
    """The OpenAPI document describing every route, argument, output and error body."""
    paths = _server_paths(settings.list_max_limit)
    tags = [{"name": "server", "description": "Invocations and the index."}]
    for entry in registry:
        thing_class = type(entry.thing)
        tags.append({"name": entry.name, "description": thing_class.thing_description()})
        paths[f"/{entry.name}/"] = {
            "get": {
                "summary": f"The Thing Description of {thing_class.thing_title()}.",
                "operationId": f"{entry.name}_thing_description",
                "tags": [entry.name],
                "responses": {
                    "200": {
                        "description": "A W3C WoT Thing Description (TD 1.1).",
                        "content": {"application/td+json": {"schema": {"type": "object"}}},
                    }
                },
            }
        }
        for prop in thing_class.properties().values():
            paths[f"/{entry.name}/properties/{prop.name}"] = _property_paths(entry, prop)
        for act in thing_class.actions().values():
            paths[f"/{entry.name}/actions/{act.name}"] = _action_paths(
                entry, act, settings.list_max_limit
            )
        paths.update(event_paths(entry))
    paths.update(server_stream_paths())
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "description": description, "version": version},
        "tags": tags,
        "paths": paths,
        "components": {"schemas": _COMPONENTS},
    }
