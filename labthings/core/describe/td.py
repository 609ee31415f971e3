"""W3C WoT Thing Descriptions (TD 1.1) of served Things, built once at registration.

A TD tells a client, in a standard form, what a Thing offers and how to reach it over
HTTP: its properties (GET/PUT `<thing>/properties/<name>`), its actions (POST
`<thing>/actions/<name>`, then GET/DELETE `actions/{id}` on the invocation) and where
to list its invocations (GET `actions?thing=<thing>`). Every href is relative to the
TD's `base`, `<server root><thing>/`, so the same template serves any host name.
"""

from __future__ import annotations

import json
from typing import Any

from labthings.core.describe.dataschema import field_schema, object_schema, td_data_schema
from labthings.core.errors import ConfigurationError
from labthings.core.things.actions import ActionAffordance
from labthings.core.things.events import EventAffordance
from labthings.core.things.properties import PropertyAffordance
from labthings.core.things.registry import ThingEntry

__all__ = ["TD_CONTEXT", "ThingDescriptionBuilder"]

TD_CONTEXT = "https://www.w3.org/2022/wot/td/v1.1"
HTTP_VOCABULARY = "http://www.w3.org/2011/http#"
JSON = "application/json"
_NOSEC = "nosec_sc"


class ThingDescriptionBuilder:
    """Builds one Thing's TD once (at registration); document(base) is cheap per request.

    Raises `ConfigurationError` at construction if the TD cannot be JSON (for example a
    default value JSON cannot hold), so a bad Thing fails at start-up, not per request.
    """

    def __init__(self, entry: ThingEntry) -> None:
        self.entry = entry
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
    td["securityDefinitions"] = {_NOSEC: {"scheme": "nosec"}}
    td["security"] = [_NOSEC]
    td["properties"] = {
        name: _property(name, affordance) for name, affordance in thing_class.properties().items()
    }
    td["actions"] = {
        name: _action(name, affordance) for name, affordance in thing_class.actions().items()
    }
    td["events"] = {
        name: _event(name, affordance) for name, affordance in thing_class.events().items()
    }
    td["forms"] = [
        {
            # base is <root><thing>/, so this is <root>actions?thing=<thing>
            "href": f"../actions?thing={entry.name}",
            "op": "queryallactions",
            "htv:methodName": "GET",
            "contentType": JSON,
        },
        _stream_form("events", "subscribeallevents"),
    ]
    return td


def _property(name: str, affordance: PropertyAffordance) -> dict[str, Any]:
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
    href = f"properties/{name}"
    forms = [_form(href, "readproperty", "GET")]
    if not affordance.readonly:
        forms.append(_form(href, "writeproperty", "PUT"))
    forms.append(_stream_form(f"{href}/events", "observeproperty"))
    description["forms"] = forms
    return description


def _action(name: str, affordance: ActionAffordance) -> dict[str, Any]:
    """An ActionAffordance: input/output schemas, flags, and invoke/query/cancel forms."""
    description: dict[str, Any] = {"title": affordance.title or name}
    _describe(description, affordance.description)
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
    # The invocation endpoints live at <root>actions/{id}, one level above base.
    description["forms"] = [
        _form(f"actions/{name}", "invokeaction", "POST"),
        _form("../actions/{id}", "queryaction", "GET"),
        _form("../actions/{id}", "cancelaction", "DELETE"),
    ]
    return description


def _event(name: str, affordance: EventAffordance) -> dict[str, Any]:
    """An EventAffordance: its data schema and a Server-Sent Events subscription form."""
    description: dict[str, Any] = {"title": affordance.title or name}
    _describe(description, affordance.description)
    description["data"] = td_data_schema(field_schema(affordance.field))
    description["forms"] = [_stream_form(f"events/{name}", "subscribeevent")]
    return description


def _stream_form(href: str, op: str) -> dict[str, Any]:
    """A form for a Server-Sent Events stream (GET, `subprotocol: sse`)."""
    return {
        "href": href,
        "op": op,
        "htv:methodName": "GET",
        "subprotocol": "sse",
        "contentType": "text/event-stream",
    }


def _form(href: str, op: str, method: str) -> dict[str, Any]:
    return {"href": href, "op": op, "htv:methodName": method, "contentType": JSON}


def _describe(target: dict[str, Any], description: str | None) -> None:
    """Set `description` on `target` unless it is empty (TDs omit empty terms)."""
    if description:
        target["description"] = description
