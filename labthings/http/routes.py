"""The Flask side of the route table: a view for every route, and every feature's docs.

`register_routes` adds one Flask rule per route of `ROUTES`, with the route's methods,
so the rules and the documents can never disagree. `FEATURE_DOCS` is what the OpenAPI
builder applies for each feature an operation names; each piece lives in the module
that implements the feature.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask
from werkzeug.routing import BaseConverter

from labthings.core.describe.openapi import Fragment
from labthings.core.describe.routes import PATH_VARIABLES, ROUTES, flask_rule
from labthings.core.errors import ConfigurationError
from labthings.http import (
    bodies,
    etags,
    idempotency,
    longpoll,
    pagination,
    prefer,
    sse,
    synchronous,
)
from labthings.http.docs import DocsAsset, DocsPage, OpenAPIDocument
from labthings.http.services import Services, ServiceView
from labthings.http.streams import (
    AllTasksStream,
    EverythingStream,
    PropertyStream,
    TaskStream,
    ThingEventsStream,
    ThingEventStream,
)
from labthings.http.ui import UiAsset, UiPage
from labthings.http.views import (
    ActionView,
    IndexView,
    IntroductionView,
    InvocationsView,
    InvocationView,
    OutputView,
    PropertyView,
    ThingView,
)

__all__ = ["FEATURE_DOCS", "VIEWS", "register_routes"]

VIEWS: Mapping[str, type[ServiceView]] = {
    "index": IndexView,
    "well-known": IntroductionView,
    "thing": ThingView,
    "property": PropertyView,
    "property-events": PropertyStream,
    "action": ActionView,
    "invocations": InvocationsView,
    "invocation": InvocationView,
    "thing-events": ThingEventsStream,
    "event": ThingEventStream,
    "invocation-output": OutputView,
    "invocation-events": TaskStream,
    "invocations-events": AllTasksStream,
    "events": EverythingStream,
    "docs": DocsPage,
    "openapi": OpenAPIDocument,
    "docs-asset": DocsAsset,
    "ui": UiPage,
    "ui-asset": UiAsset,
}
"""The view serving each route of the table, by endpoint."""

FEATURE_DOCS: Mapping[str, Fragment] = {
    "etag": etags.document,
    "long-poll": longpoll.document,
    "pagination": pagination.document,
    "json-body": bodies.document,
    "prefer": prefer.document,
    "idempotency": idempotency.document,
    "synchronous": synchronous.document,
    "event-stream": sse.document,
    "unnamed-messages": sse.document_unnamed,
}


def _converter(pattern: str) -> type[BaseConverter]:
    """A werkzeug converter matching `pattern` and giving the text as it is."""
    return type("PatternConverter", (BaseConverter,), {"regex": pattern})


def register_routes(app: Flask, services: Services) -> None:
    """Add a rule for every route of the table to `app`, served by its view."""
    for name, pattern in PATH_VARIABLES.items():
        app.url_map.converters[f"{name}_pattern"] = _converter(pattern)
    unserved = {route.endpoint for route in ROUTES} ^ set(VIEWS)
    if unserved:
        raise ConfigurationError(f"routes and views do not match: {sorted(unserved)}")
    for route in ROUTES:
        view_class = VIEWS[route.endpoint]
        methods = list(route.methods)
        # A view with its own `options` says which methods each path allows.
        own_options = hasattr(view_class, "options")
        if own_options:
            methods.append("OPTIONS")
        app.add_url_rule(
            flask_rule(route.path),
            endpoint=route.endpoint,
            view_func=view_class.as_view(route.endpoint, services),
            methods=methods,
            provide_automatic_options=not own_options,
            strict_slashes=not route.optional_slash,
        )
