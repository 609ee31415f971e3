"""What a server offers, in a few words per affordance: `labthings describe`.

`lab_summary` gathers it (reading every readable property's value now) as JSON-ready
dicts; `render` lays them out for people.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from labthings.client.errors import ClientError
from labthings.client.lab import LabClient
from labthings.client.thing import ThingClient

__all__ = ["lab_summary", "render", "schema_text"]


def schema_text(schema: Mapping[str, Any] | None) -> str:
    """A data schema in a few words: `number 0..60`, `array of integer`, `"a" | "b"`."""
    if not schema:
        return "any"
    if "enum" in schema:
        return " | ".join(json.dumps(option) for option in schema["enum"])
    if "const" in schema:
        return json.dumps(schema["const"])
    branches = schema.get("oneOf") or schema.get("anyOf")
    if branches:
        return " | ".join(schema_text(branch) for branch in branches)
    kind = schema.get("type")
    if isinstance(kind, list):
        text = " | ".join(str(one) for one in kind)
    elif kind == "array":
        items = schema.get("items")
        text = f"array of {schema_text(items)}" if isinstance(items, Mapping) else "array"
    elif kind == "object" and schema.get("properties"):
        text = "object {" + ", ".join(schema["properties"]) + "}"
    else:
        text = str(kind or "any")
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    if low is not None or high is not None:
        text += f" {_number(low)}..{_number(high)}"
    if schema.get("unit"):
        text += f" [{schema['unit']}]"
    return text


def _number(value: Any) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def lab_summary(lab: LabClient, names: list[str] | None = None) -> dict[str, Any]:
    """The server's title and each Thing's summary (all, or those `names`)."""
    return {
        "url": lab.url,
        "title": lab.title,
        "description": lab.description,
        "things": {name: thing_summary(lab.thing(name)) for name in names or list(lab.things)},
    }


def thing_summary(thing: ThingClient) -> dict[str, Any]:
    """One Thing: its properties (type, access, value now), actions (arguments, output)
    and events (data)."""
    td = thing.td
    properties = {}
    for name, affordance in td.properties.items():
        entry: dict[str, Any] = {
            "type": schema_text(affordance.schema),
            "writable": affordance.offers("writeproperty"),
            "description": affordance.description,
        }
        if affordance.offers("readproperty"):
            try:
                entry["value"] = thing.read_property(name)
            except ClientError as error:
                entry["error"] = str(error)
        properties[name] = entry
    actions = {name: _action(affordance.schema) for name, affordance in td.actions.items()}
    events = {
        name: {
            "data": schema_text(affordance.schema.get("data")),
            "description": affordance.description,
        }
        for name, affordance in td.events.items()
    }
    return {
        "url": td.url,
        "title": td.title,
        "description": td.description,
        "properties": properties,
        "actions": actions,
        "events": events,
    }


def _action(schema: Mapping[str, Any]) -> dict[str, Any]:
    given = schema.get("input") or {}
    required = set(given.get("required") or ())
    arguments = []
    for name, inner in (given.get("properties") or {}).items():
        argument: dict[str, Any] = {"name": name, "type": schema_text(inner)}
        argument["required"] = name in required
        if "default" in inner:
            argument["default"] = inner["default"]
        arguments.append(argument)
    output = schema.get("output")
    return {
        "arguments": arguments,
        "output": None if output is None else schema_text(output),
        "description": str(schema.get("description") or ""),
    }


def render(summary: Mapping[str, Any]) -> list[str]:
    """The summary as lines of text."""
    title = summary["title"] + (f" - {summary['description']}" if summary["description"] else "")
    lines = [title, summary["url"]]
    for name, thing in summary["things"].items():
        lines += ["", f"{name}: {thing['title']}  ({thing['url']})"]
        if thing["description"]:
            lines.append(f"  {_first_line(thing['description'])}")
        lines += _section(
            "properties", [_property_line(n, p) for n, p in thing["properties"].items()]
        )
        lines += _section("actions", [_action_line(n, a) for n, a in thing["actions"].items()])
        lines += _section("events", [_event_line(n, e) for n, e in thing["events"].items()])
    return lines


def _section(title: str, entries: list[str]) -> list[str]:
    return [f"  {title}:", *(f"    {entry}" for entry in entries)] if entries else []


def _property_line(name: str, entry: Mapping[str, Any]) -> str:
    access = "" if entry["writable"] else ", read-only"
    if "value" in entry:
        now = f" = {_short(json.dumps(entry['value']))}"
    elif "error" in entry:
        now = " (could not be read)"
    else:
        now = ""
    return _described(f"{name}: {entry['type']}{access}{now}", entry["description"])


def _action_line(name: str, entry: Mapping[str, Any]) -> str:
    arguments = []
    for argument in entry["arguments"]:
        text = f"{argument['name']}: {argument['type']}"
        if "default" in argument:
            text += f" = {json.dumps(argument['default'])}"
        arguments.append(text)
    output = f" -> {entry['output']}" if entry["output"] else ""
    return _described(f"{name}({', '.join(arguments)}){output}", entry["description"])


def _event_line(name: str, entry: Mapping[str, Any]) -> str:
    return _described(f"{name}: {entry['data']}", entry["description"])


def _described(text: str, description: str) -> str:
    return f"{text}  # {_first_line(description)}" if description else text


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
