"""W3C WoT Thing Descriptions (TD 1.1) of served Things, built once at registration.

A TD tells a client, in a standard form, what a Thing offers and how to reach it over
HTTP: its properties (GET/PUT `<thing>/properties/<name>`, observed as a stream), its
actions (POST `<thing>/actions/<name>`, then GET/DELETE `actions/{id}` on the
invocation), its events, and where to list its invocations (GET `actions?thing=<thing>`).

Generic consumers read it as served, so it follows what the W3C reference consumer
(node-wot) needs: the TD 1.0 context first (its bundled schema wants it; TD 1.1 allows
it, followed by the 1.1 one), every href absolute, stream forms whose messages are bare
JSON, and a synchronous invokeaction form that answers with the action's output. The
server root is filled in per request, so the same template serves any host name.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from labthings.core.describe.dataschema import field_schema, object_schema, td_data_schema
from labthings.core.describe.operations import JSON, Target
from labthings.core.describe.routes import ROUTES, Scope
from labthings.core.errors import ConfigurationError
from labthings.core.tasks.record import record_schema
from labthings.core.tasks.reuse import reuse_note
from labthings.core.things.actions import ActionAffordance
from labthings.core.things.events import EventAffordance
from labthings.core.things.properties import PropertyAffordance
from labthings.core.things.registry import ThingEntry

__all__ = [
    "INVOCATION_SCHEMA",
    "TD_CONTEXT",
    "TD_CONTEXT_V1",
    "ThingDescriptionBuilder",
    "td_context",
    "security_terms",
]

TD_CONTEXT = "https://www.w3.org/2022/wot/td/v1.1"
TD_CONTEXT_V1 = "https://www.w3.org/2019/wot/td/v1"
HTTP_VOCABULARY = "http://www.w3.org/2011/http#"
INVOCATION_SCHEMA = "invocation"
"""The name, in a TD's `schemaDefinitions`, of the invocation record: what the forms
that start, query or cancel an invocation asynchronously answer with."""
_ROOT = "{root}"  # stands for the server root in the template's hrefs
_NOSEC = "nosec_sc"
_BEARER = "bearer_sc"


def td_context() -> list[Any]:
    """A TD's `@context`: TD 1.0's, then TD 1.1's (which TD 1.1 allows, and node-wot's
    bundled schema requires), then the HTTP vocabulary of `htv:methodName`."""
    return [TD_CONTEXT_V1, TD_CONTEXT, {"htv": HTTP_VOCABULARY}]


def security_terms(secured: bool) -> dict[str, Any]:
    """A TD's `securityDefinitions` and `security` while tokens are checked, or not."""
    if not secured:
        definitions: dict[str, Any] = {_NOSEC: {"scheme": "nosec"}}
    else:
        bearer = {
            "scheme": "bearer",
            "in": "header",
            "name": "Authorization",
            "description": "An access token; event streams also take it as ?access_token=.",
        }
        definitions = {_BEARER: bearer}
    return {"securityDefinitions": definitions, "security": list(definitions)}


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
        """A fresh dict (callers may mutate it): the TD with base = server_root + entry.name
        + '/' and every href absolute, under server_root.

        server_root is like 'http://127.0.0.1:7485/' (always ends with '/').
        """
        # Decoding the JSON made at registration is a fast, complete deep copy.
        td: dict[str, Any] = json.loads(self._json)
        td["base"] = f"{server_root}{self.entry.name}/"
        td.update(security_terms(self._secured()))
        for form in _all_forms(td):
            form["href"] = server_root + form["href"][len(_ROOT) :]
        for link in td["links"]:
            link["href"] = server_root + link["href"][len(_ROOT) :]
        return td


def _all_forms(td: dict[str, Any]) -> list[dict[str, Any]]:
    """Every form of a TD: its own and its affordances'."""
    forms = list(td["forms"])
    for kind in ("properties", "actions", "events"):
        for affordance in td[kind].values():
            forms.extend(affordance["forms"])
    return forms


def _thing_description(entry: ThingEntry) -> dict[str, Any]:
    """The TD of `entry` with an empty `base` (its place in the key order is kept)."""
    thing_class = type(entry.thing)
    td: dict[str, Any] = {
        "@context": td_context(),
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
    td["links"] = [  # the server's own TD, which lists every Thing (WoT Discovery)
        {"rel": "collection", "href": f"{_ROOT}.well-known/wot", "type": "application/td+json"}
    ]
    if td["actions"]:
        td["schemaDefinitions"] = {INVOCATION_SCHEMA: td_data_schema(record_schema())}
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
    # Its first invokeaction form says how a POST answers: with the output once the
    # action ends (synchronous), or at once with an invocation record to follow.
    description["synchronous"] = affordance.synchronous
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
    """The forms of the operations in the route table that serve `scope` in TDs.

    An action lists the invokeaction form of its own kind (`synchronous` or not) first,
    since consumers take the first form of an operation.
    """
    forms: list[tuple[bool, dict[str, Any]]] = []
    synchronous = isinstance(target.affordance, ActionAffordance) and target.affordance.synchronous
    for route in ROUTES:
        for operation in route.operations:
            if not operation.applies(target):
                continue
            for td_form in operation.td_forms:
                if td_form.on is not scope:
                    continue
                op = td_form.op if isinstance(td_form.op, str) else list(td_form.op)
                form: dict[str, Any] = {
                    "href": _href(route.path, target, td_form.query),
                    "op": op,
                    "htv:methodName": operation.method,
                }
                if route.stream:
                    # The Profile's HTTP SSE binding: the stream is implied by the
                    # subprotocol; contentType is that of each message's data.
                    form["subprotocol"] = "sse"
                form["contentType"] = JSON
                if scope is Scope.ACTION and not td_form.synchronous:
                    # Answered with an invocation record, not with the action's output.
                    form["additionalResponses"] = [
                        {"success": True, "contentType": JSON, "schema": INVOCATION_SCHEMA}
                    ]
                later = scope is Scope.ACTION and td_form.synchronous is not synchronous
                forms.append((later, form))
    return [form for later, form in sorted(forms, key=lambda pair: pair[0])]


def _href(path: str, target: Target, query: str) -> str:
    """`path` under the server root (a placeholder until `document`), its names filled
    in; `{id}` stays a URI variable."""
    path = path.replace("{thing}", target.thing.name)
    if target.affordance is not None:
        path = path.replace("{name}", target.affordance.name)
    href = _ROOT + path[1:]
    if query:
        href += "?" + query.replace("{thing}", target.thing.name)
    return href


def _describe(target: dict[str, Any], description: str | None) -> None:
    """Set `description` on `target` unless it is empty (TDs omit empty terms)."""
    if description:
        target["description"] = description
