"""W3C WoT Thing Descriptions (TD 1.1) of served Things, built once at registration.

A TD tells a client, in a standard form, what a Thing offers and how to reach it over
HTTP: its properties (GET/PUT `<thing>/properties/<name>`), its actions (POST
`<thing>/actions/<name>`, then GET/DELETE `actions/{id}` on the invocation) and where
to list its invocations (GET `actions?thing=<thing>`). Every href is relative to the
TD's `base`, `<server root><thing>/`, so the same template serves any host name.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from labthings.core.describe.dataschema import field_schema, object_schema, td_data_schema
from labthings.core.describe.operations import JSON, Target
from labthings.core.describe.routes import ROUTES, Scope
from labthings.core.errors import ConfigurationError
from labthings.core.tasks.reuse import reuse_note
from labthings.core.things.actions import ActionAffordance
from labthings.core.things.events import EventAffordance
from labthings.core.things.properties import PropertyAffordance
from labthings.core.things.registry import ThingEntry

__all__ = ["TD_CONTEXT", "ThingDescriptionBuilder"]

TD_CONTEXT = "https://www.w3.org/2022/wot/td/v1.1"
HTTP_VOCABULARY = "http://www.w3.org/2011/http#"
_NOSEC = "nosec_sc"
_BEARER = "bearer_sc"


def _security_definitions(secured: bool) -> dict[str, Any]:
    """A TD's `securityDefinitions` while tokens are checked, or while they are not."""
    if not secured:
        return {_NOSEC: {"scheme": "nosec"}}
    bearer = {
        "scheme": "bearer",
        "in": "header",
        "name": "Authorization",
        "description": "An access token; event streams also take it as ?access_token=.",
    }
    return {_BEARER: bearer}


class ThingDescriptionBuilder:
    """Builds one Thing's TD once (at registration); document(base) is cheap per request.

    Raises `ConfigurationError` at construction if the TD cannot be JSON (for example a
    default value JSON cannot hold), so a bad Thing fails at start-up, not per request.
    `secured()` says whether requests need a bearer token at the moment (the TD's
    `security`); by default they never do.
    """

    def __init__(self, entry: ThingEntry, secured: Callable[[], bool] = lambda: False) -> None:
        self.entry = entry
        self._secured = secured
        template = _thing_description(entry)
        try:
            self._json = json.dumps(template, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise ConfigurationError(
                f"the Thing Description of thing {entry.name!r} is not JSON: {error}"
            ) from None

    def document(self, server_root: str) -> dict[str, Any]:
        """A fresh dict (callers may mutate it): the TD with base = server_root + entry.name + '/'.

        server_root is like 'http://127.0.0.1:7485/' (always ends with '/').
        """
        # Decoding the JSON made at registration is a fast, complete deep copy.
        td: dict[str, Any] = json.loads(self._json)
        td["base"] = f"{server_root}{self.entry.name}/"
        definitions = _security_definitions(self._secured())
        td["securityDefinitions"] = definitions
        td["security"] = list(definitions)
        return td


def _thing_description(entry: ThingEntry) -> dict[str, Any]:
    """The TD of `entry` with an empty `base` (its place in the key order is kept)."""
    thing_class = type(entry.thing)
    td: dict[str, Any] = {
        "@context": [TD_CONTEXT, {"htv": HTTP_VOCABULARY}],
        "id": entry.thing_id,
        "title": thing_class.thing_title(),
    }
    _describe(td, thing_class.thing_description())
    td["version"] = {"instance": str(thing_class.version)}
    td["base"] = ""
    td["securityDefinitions"] = {}  # filled in per request: see document()
    td["security"] = []
    td["properties"] = {
        name: _property(entry, name, affordance)
        for name, affordance in thing_class.properties().items()
    }
    td["actions"] = {
        name: _action(entry, name, affordance) for name, affordance in thing_class.actions().items()
    }
    td["events"] = {
        name: _event(entry, name, affordance) for name, affordance in thing_class.events().items()
    }
    td["forms"] = _forms(Target(entry), Scope.THING)
    return td


def _property(entry: ThingEntry, name: str, affordance: PropertyAffordance) -> dict[str, Any]:
    """A PropertyAffordance: the field's DataSchema plus access, titles and forms."""
    schema = td_data_schema(field_schema(affordance.field))
    # The affordance's own title and description win over the field's metadata.
    title, text = schema.pop("title", name), schema.pop("description", "")
    description: dict[str, Any] = {"title": affordance.title or title}
    _describe(description, affordance.description or text)
    description.update(schema)
    description["readOnly"] = affordance.readonly
    description["writeOnly"] = False
    description["observable"] = True
    description["forms"] = _forms(Target(entry, affordance), Scope.PROPERTY)
    return description


def _action(entry: ThingEntry, name: str, affordance: ActionAffordance) -> dict[str, Any]:
    """An ActionAffordance: input/output schemas, flags, and invoke/query/cancel forms."""
    description: dict[str, Any] = {"title": affordance.title or name}
    _describe(description, " ".join(filter(None, [affordance.description, reuse_note(affordance)])))
    if affordance.input_fields:
        description["input"] = td_data_schema(object_schema(affordance.input_schema))
    if affordance.output_field is not None:
        description["output"] = td_data_schema(field_schema(affordance.output_field))
    description["safe"] = affordance.safe
    description["idempotent"] = affordance.idempotent
    # POST answers 201 with an invocation record; the output arrives in that record.
    description["synchronous"] = False
    description["uriVariables"] = {
        "id": {
            "type": "string",
            "title": "Invocation id",
            "description": "The id of an invocation, from the record the POST returned",
        }
    }
    description["forms"] = _forms(Target(entry, affordance), Scope.ACTION)
    return description


def _event(entry: ThingEntry, name: str, affordance: EventAffordance) -> dict[str, Any]:
    """An EventAffordance: its data schema and a Server-Sent Events subscription form."""
    description: dict[str, Any] = {"title": affordance.title or name}
    _describe(description, affordance.description)
    description["data"] = td_data_schema(field_schema(affordance.field))
    description["forms"] = _forms(Target(entry, affordance), Scope.EVENT)
    return description


def _forms(target: Target, scope: Scope) -> list[dict[str, Any]]:
    """The forms of the operations in the route table that serve `scope` in TDs."""
    forms = []
    for route in ROUTES:
        for operation in route.operations:
            if operation.td is None or operation.td.on is not scope:
                continue
            if not operation.applies(target):
                continue
            form: dict[str, Any] = {
                "href": _href(route.path, target, operation.td.query),
                "op": operation.td.op,
                "htv:methodName": operation.method,
            }
            if route.stream:
                form.update(subprotocol="sse", contentType="text/event-stream")
            else:
                form["contentType"] = JSON
            forms.append(form)
    return forms


def _href(path: str, target: Target, query: str) -> str:
    """`path` relative to the TD's base (`<root><thing>/`), with its names filled in.

    Server-wide paths are one level up (`../actions/{id}`); `{id}` stays a URI variable.
    """
    entry = target.thing
    if target.affordance is not None:
        path = path.replace("{name}", target.affordance.name)
    prefix = "/{thing}/"
    href = path[len(prefix) :] if path.startswith(prefix) else ".." + path
    if query:
        href += "?" + query.replace("{thing}", entry.name)
    return href


def _describe(target: dict[str, Any], description: str | None) -> None:
    """Set `description` on `target` unless it is empty (TDs omit empty terms)."""
    if description:
        target["description"] = description
