"""The route table: every HTTP route of a server, defined once.

The Flask rules (`labthings.http.views`), the OpenAPI paths (`openapi.py`) and the Thing
Description forms (`td.py`) are all made from `ROUTES`. A route's path is a template:
`{thing}` is a Thing's name, `{name}` the name of one of its affordances, and any other
`{variable}` stays a variable of the URL (`{id}` of an invocation).

Each operation names the HTTP features it uses (`etag`, `long-poll`, `pagination`,
`json-body`, `prefer`, `idempotency`, `synchronous`, `event-stream`, `unnamed-messages`);
the module implementing a feature also documents it, and the document builder applies
that piece to each operation that names it.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from labthings.core.describe import operations as doc
from labthings.core.describe.operations import Target
from labthings.core.things.actions import ActionAffordance
from labthings.core.things.affordance import Affordance
from labthings.core.things.events import EventAffordance
from labthings.core.things.properties import PropertyAffordance

__all__ = [
    "AFFORDANCE_KINDS",
    "ROUTES",
    "Operation",
    "Route",
    "Scope",
    "TdForm",
    "Target",
    "PATH_VARIABLES",
    "flask_rule",
]


class Scope(enum.Enum):
    """What one concrete path of a route is about, so what its template is filled with."""

    SERVER = "server"
    THING = "thing"
    PROPERTY = "property"
    ACTION = "action"
    EVENT = "event"


AFFORDANCE_KINDS: dict[Scope, type[Affordance]] = {
    Scope.PROPERTY: PropertyAffordance,
    Scope.ACTION: ActionAffordance,
    Scope.EVENT: EventAffordance,
}
"""The affordance each per-affordance scope is expanded over."""


@dataclass(frozen=True)
class TdForm:
    """How an operation appears in a Thing Description: as a form of `op` on `on`.

    `op` is one operation or several served by the same request (observing a property
    opens a stream; closing it unobserves). `query` is appended to the href
    (`thing={thing}` filters a server-wide list, `sync=true` asks for an action's output).
    `synchronous` marks the invokeaction form that answers with the output itself: an
    action lists the invokeaction forms of its own kind first (`ActionAffordance.synchronous`).
    """

    op: str | tuple[str, ...]
    on: Scope
    query: str = ""
    synchronous: bool = False


@dataclass(frozen=True)
class Operation:
    """One HTTP method of a route: its OpenAPI object, features and TD form."""

    method: str
    describe: Callable[[Target], dict[str, Any]] | None
    """The operation's own OpenAPI object; None keeps it out of the document."""
    features: tuple[str, ...] = ()
    td: TdForm | tuple[TdForm, ...] | None = None
    """The TD form(s) the operation serves, if any."""
    applies: Callable[[Target], bool] = lambda target: True
    """Whether a concrete path has this operation (writing a read-only property has not)."""

    @property
    def td_forms(self) -> tuple[TdForm, ...]:
        """The TD forms of the operation, as a tuple."""
        if self.td is None:
            return ()
        return self.td if isinstance(self.td, tuple) else (self.td,)


@dataclass(frozen=True)
class Route:
    """A URL template, what it is about, and its operations."""

    endpoint: str
    path: str
    scope: Scope
    operations: tuple[Operation, ...]
    stream: bool = False
    """A `text/event-stream` (Server-Sent Events) route."""
    optional_slash: bool = False
    """`/stage` serves what `/stage/` does (a TD's relative hrefs need the slash)."""
    public: bool = False
    """Served without an access token: the web page's and the docs' files, the same for
    every lab, which a browser needs in order to ask for a token."""

    @property
    def methods(self) -> list[str]:
        """The HTTP methods of the route, in table order."""
        return [operation.method for operation in self.operations]


def _writable(target: Target) -> bool:
    affordance = target.affordance
    return isinstance(affordance, PropertyAffordance) and not affordance.readonly


_STREAM = ("event-stream",)
_UNNAMED = "messages=unnamed"
"""The query of the streams in TD forms: each message bare JSON data without an event
name, which is what generic WoT consumers (node-wot) listen to."""


def _stream(
    endpoint: str,
    path: str,
    scope: Scope,
    describe: Callable[[Target], dict[str, Any]],
    td: TdForm | None = None,
    features: tuple[str, ...] = (),
) -> Route:
    """A Server-Sent Events route: one GET that names the `event-stream` feature."""
    operation = Operation("GET", describe, _STREAM + features, td)
    return Route(endpoint, path, scope, (operation,), stream=True)


def _undocumented(endpoint: str, path: str, public: bool = False) -> Route:
    """A GET route kept out of the OpenAPI document (the docs and the web page)."""
    return Route(endpoint, path, Scope.SERVER, (Operation("GET", None),), public=public)


ROUTES: tuple[Route, ...] = (
    Route("index", "/", Scope.SERVER, (Operation("GET", doc.index),)),
    Route("well-known", "/.well-known/wot", Scope.SERVER, (Operation("GET", doc.introduction),)),
    Route(
        "thing",
        "/{thing}/",
        Scope.THING,
        (Operation("GET", doc.thing_description),),
        optional_slash=True,
    ),
    Route(
        "property",
        "/{thing}/properties/{name}",
        Scope.PROPERTY,
        (
            Operation("GET", doc.read_property, ("etag",), TdForm("readproperty", Scope.PROPERTY)),
            Operation(
                "PUT",
                doc.write_property,
                ("json-body",),
                TdForm("writeproperty", Scope.PROPERTY),
                applies=_writable,
            ),
        ),
    ),
    _stream(
        "property-events",
        "/{thing}/properties/{name}/events",
        Scope.PROPERTY,
        doc.observe_property,
        TdForm(("observeproperty", "unobserveproperty"), Scope.PROPERTY, _UNNAMED),
        ("unnamed-messages",),
    ),
    Route(
        "action",
        "/{thing}/actions/{name}",
        Scope.ACTION,
        (
            Operation(
                "POST",
                doc.invoke_action,
                ("json-body", "prefer", "idempotency", "synchronous"),
                (
                    TdForm("invokeaction", Scope.ACTION, "sync=true", synchronous=True),
                    TdForm("invokeaction", Scope.ACTION),
                ),
            ),
            Operation("GET", doc.list_action_invocations, ("pagination",)),
        ),
    ),
    Route(
        "invocations",
        "/actions",
        Scope.SERVER,
        (
            Operation(
                "GET",
                doc.list_invocations,
                ("pagination",),
                TdForm("queryallactions", Scope.THING, query="thing={thing}"),
            ),
        ),
    ),
    Route(
        "invocation",
        "/actions/{id}",
        Scope.SERVER,
        (
            Operation(
                "GET",
                doc.get_invocation,
                ("etag", "long-poll"),
                TdForm("queryaction", Scope.ACTION),
            ),
            Operation("DELETE", doc.cancel_invocation, (), TdForm("cancelaction", Scope.ACTION)),
        ),
    ),
    _stream(
        "thing-events",
        "/{thing}/events",
        Scope.THING,
        doc.subscribe_all_events,
        TdForm(("subscribeallevents", "unsubscribeallevents"), Scope.THING),
    ),
    _stream(
        "event",
        "/{thing}/events/{name}",
        Scope.EVENT,
        doc.subscribe_event,
        TdForm(("subscribeevent", "unsubscribeevent"), Scope.EVENT, _UNNAMED),
        ("unnamed-messages",),
    ),
    Route(
        "invocation-output",
        "/actions/{id}/output",
        Scope.SERVER,
        (Operation("GET", doc.get_output),),
    ),
    _stream("invocation-events", "/actions/{id}/events", Scope.SERVER, doc.watch_invocation),
    _stream("invocations-events", "/actions/events", Scope.SERVER, doc.watch_invocations),
    _stream("events", "/events", Scope.SERVER, doc.watch_everything),
    _undocumented("docs", "/docs/", public=True),
    _undocumented("openapi", "/docs/openapi.json"),
    _undocumented("docs-asset", "/docs/static/{filename:path}", public=True),
    _undocumented("ui", "/ui/", public=True),
    _undocumented("ui-asset", "/ui/{filename:path}", public=True),
)

_VARIABLE = re.compile(r"\{(\w+)(?::(\w+))?\}")

PATH_VARIABLES: dict[str, str] = {"id": r"[0-9a-fA-F-]{36}"}
"""The URL variables that only match a pattern, by name: an invocation `id` is a UUID,
so `/actions/events` is the event stream and never an invocation called `events`."""


def flask_rule(path: str) -> str:
    """The Flask/werkzeug rule of a path template: `{f:path}` -> `<path:f>`, a variable of
    `PATH_VARIABLES` -> `<name_pattern:name>` (a converter of that pattern), else `<x>`."""

    def rule(match: re.Match[str]) -> str:
        name, converter = match.group(1), match.group(2)
        if converter is None and name in PATH_VARIABLES:
            converter = f"{name}_pattern"
        return f"<{converter}:{name}>" if converter else f"<{name}>"

    return _VARIABLE.sub(rule, path)
