"""The OpenAPI 3 document of a server, built once from the route table and its Things.

Every route of `ROUTES` is expanded over the registry (one path per Thing or per
affordance, as its scope says); each operation's own object comes from
`operations.py`, then the features it names add their pieces. The features' pieces are
passed in by the HTTP layer, which implements them, so this module stays Flask-free.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from labthings.core.describe.dataschema import OPENAPI_VERSION
from labthings.core.describe.operations import Target, ref
from labthings.core.describe.routes import AFFORDANCE_KINDS, PATH_VARIABLES, ROUTES, Route, Scope
from labthings.core.errors import ConfigurationError
from labthings.core.settings import Settings
from labthings.core.tasks.record import LOG_ENTRY_SCHEMA, record_schema
from labthings.core.things.registry import ThingRegistry

__all__ = ["Fragment", "build_openapi", "expand"]

Fragment = Callable[[dict[str, Any], Target], None]
"""Adds a feature's parameters, headers and responses to one operation object."""

_PATH_VARIABLE = re.compile(r"\{(\w+)\}")

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
            ref("Problem"),
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
    "LogEntry": LOG_ENTRY_SCHEMA,
    "InvocationRecord": record_schema(),
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
            "links": {"type": "array", "items": ref("Link")},
        },
    },
}


def expand(
    route: Route, registry: ThingRegistry, settings: Settings
) -> Iterator[tuple[str, Target]]:
    """The concrete paths of `route` on this server, each with what it is about."""
    if route.scope is Scope.SERVER:
        yield route.path, Target(settings=settings)
        return
    for entry in registry:
        path = route.path.replace("{thing}", entry.name)
        if route.scope is Scope.THING:
            yield path, Target(entry, settings=settings)
            continue
        kind = AFFORDANCE_KINDS[route.scope]
        for name, affordance in type(entry.thing).affordances(kind).items():
            yield path.replace("{name}", name), Target(entry, affordance, settings)


def build_openapi(
    *,
    title: str,
    description: str,
    version: str,
    registry: ThingRegistry,
    settings: Settings,
    features: Mapping[str, Fragment],
    common: Sequence[Fragment] = (),
    security_schemes: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The OpenAPI document describing every documented route of the server.

    `features` documents each feature an operation may name; `common` pieces are added
    to every operation (after its features), and `security_schemes` become the
    components' `securitySchemes` that they may name. Raises ConfigurationError if an
    operation names a feature that `features` does not document.
    """
    paths: dict[str, Any] = {}
    for route in ROUTES:
        for path, target in expand(route, registry, settings):
            item: dict[str, Any] = {}
            for operation in route.operations:
                if operation.describe is None or not operation.applies(target):
                    continue
                document = operation.describe(target)
                _add_path_variables(document, path)
                for name in operation.features:
                    if name not in features:
                        raise ConfigurationError(f"no documentation for the feature {name!r}")
                    features[name](document, target)
                for fragment in common:
                    fragment(document, target)
                item[operation.method.lower()] = document
            if item:
                paths[path] = item
    tags = [{"name": "server", "description": "Invocations, live updates and the index."}]
    tags += [
        {"name": entry.name, "description": type(entry.thing).thing_description()}
        for entry in registry
    ]
    components: dict[str, Any] = {"schemas": _COMPONENTS}
    if security_schemes:
        components["securitySchemes"] = dict(security_schemes)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "description": description, "version": version},
        "tags": tags,
        "paths": paths,
        "components": components,
    }


def _variable_schema(name: str) -> dict[str, Any]:
    pattern = PATH_VARIABLES.get(name)
    return {"type": "string"} if pattern is None else {"type": "string", "pattern": f"^{pattern}$"}


def _add_path_variables(document: dict[str, Any], path: str) -> None:
    """Declare the variables left in `path` (an invocation's `{id}`) as path parameters."""
    declared = [
        {"name": name, "in": "path", "required": True, "schema": _variable_schema(name)}
        for name in _PATH_VARIABLE.findall(path)
    ]
    if declared:
        document["parameters"] = declared + document.get("parameters", [])
