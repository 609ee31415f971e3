"""A Thing Description read the way a WoT consumer reads it: affordances and their forms.

Nothing here knows labthings' paths. Each form's `href` is resolved against the TD's
`base` (itself resolved against the URL the TD came from), per TD 1.1, so relative and
absolute hrefs both work; a form is chosen by its `op`, preferring HTTP(S) forms with the
content type the operation needs. `{variable}`s (an invocation's `{id}`) stay in the URL
until `Form.url(...)` fills them in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from labthings.client.errors import NotOffered

__all__ = ["Affordance", "Form", "ThingDescription"]

_DEFAULT_METHODS = {
    "readproperty": "GET",
    "writeproperty": "PUT",
    "observeproperty": "GET",
    "invokeaction": "POST",
    "queryaction": "GET",
    "cancelaction": "DELETE",
    "subscribeevent": "GET",
    "readallproperties": "GET",
    "queryallactions": "GET",
    "subscribeallevents": "GET",
}
"""The HTTP binding's default method of each operation (WoT Binding Templates)."""
_STREAMING = {"observeproperty", "subscribeevent", "subscribeallevents"}
_VARIABLE = re.compile(r"\{([^}]+)\}")
_OPS_BY_KIND = {
    "properties": ("readproperty", "writeproperty"),
    "actions": ("invokeaction",),
    "events": ("subscribeevent",),
}


@dataclass(frozen=True)
class Form:
    """One way to perform one operation: an absolute URL template and its HTTP method.

    A TD form that lists several operations becomes one Form per operation, each with
    its own default method unless the TD names one (`htv:methodName`).
    """

    href: str
    method: str
    op: str
    content_type: str
    subprotocol: str | None = None

    def url(self, **variables: str) -> str:
        """The URL with `{name}` variables filled in (percent-encoded)."""

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in variables:
                raise NotOffered(f"the form {self.href} needs a value for {{{name}}}")
            return quote(str(variables[name]), safe="")

        return _VARIABLE.sub(fill, self.href)


@dataclass(frozen=True)
class Affordance:
    """A property, action or event: its name, kind, description and forms.

    `schema` is the whole affordance object of the TD (a property's data schema, an
    action's `input`/`output`, an event's `data`).
    """

    name: str
    kind: str  # "properties", "actions" or "events"
    schema: Mapping[str, Any]
    forms: tuple[Form, ...] = field(repr=False)

    @property
    def title(self) -> str:
        return str(self.schema.get("title") or self.name)

    @property
    def description(self) -> str:
        return str(self.schema.get("description") or "")

    def offers(self, op: str) -> bool:
        """Whether a form of this affordance performs `op`."""
        return any(form.op == op for form in self.forms)

    def form(self, op: str) -> Form:
        """The best form for `op`; raises NotOffered if there is none."""
        candidates = [form for form in self.forms if form.op == op]
        if not candidates:
            raise NotOffered(f"{self._noun()} {self.name!r} offers no {op}{self._why(op)}")
        return max(candidates, key=lambda form: _suitability(form, op))

    def _noun(self) -> str:
        return {"properties": "property", "actions": "action", "events": "event"}[self.kind]

    def _why(self, op: str) -> str:
        if op == "writeproperty" and self.schema.get("readOnly"):
            return " (it is read-only)"
        if op == "readproperty" and self.schema.get("writeOnly"):
            return " (it is write-only)"
        return ""


def _suitability(form: Form, op: str) -> tuple[bool, bool]:
    """HTTP(S) first, then the content type the operation needs."""
    http = urlsplit(form.href).scheme in ("http", "https")
    if op in _STREAMING:
        fits = form.subprotocol == "sse" or form.content_type.startswith("text/event-stream")
    else:
        fits = form.content_type.split(";")[0].strip() in ("application/json", "")
    return http, fits


class ThingDescription:
    """A parsed TD: `properties`, `actions`, `events` (name -> Affordance) and the
    Thing-level forms, with every href absolute."""

    def __init__(self, document: Mapping[str, Any], url: str) -> None:
        if not isinstance(document, Mapping) or "title" not in document:
            raise NotOffered(f"{url} did not answer with a Thing Description")
        self.document = document
        self.url = url
        self.base = urljoin(url, str(document.get("base") or url))
        self.title = str(document["title"])
        self.description = str(document.get("description") or "")
        self.forms = self._forms(document.get("forms"), ())
        self.properties = self._affordances("properties")
        self.actions = self._affordances("actions")
        self.events = self._affordances("events")

    @property
    def security(self) -> list[str]:
        """The schemes of the TD's `security` (e.g. `["bearer"]` or `["nosec"]`)."""
        definitions = self.document.get("securityDefinitions") or {}
        names = self.document.get("security") or []
        names = [names] if isinstance(names, str) else names
        return [str(definitions.get(name, {}).get("scheme", name)) for name in names]

    def affordance(self, kind: str, name: str) -> Affordance:
        """The property, action or event `name`; raises NotOffered naming what there is."""
        found: dict[str, Affordance] = getattr(self, kind)
        if name in found:
            return found[name]
        noun = {"properties": "property", "actions": "action", "events": "event"}[kind]
        known = ", ".join(sorted(found)) or "none"
        raise NotOffered(f"{self.title} has no {noun} {name!r} (its {kind}: {known})")

    def _affordances(self, kind: str) -> dict[str, Affordance]:
        section = self.document.get(kind) or {}
        return {
            name: Affordance(name, kind, spec, self._forms(spec.get("forms"), _OPS_BY_KIND[kind]))
            for name, spec in section.items()
            if isinstance(spec, Mapping)
        }

    def _forms(self, raw: Any, default_ops: tuple[str, ...]) -> tuple[Form, ...]:
        forms = []
        for spec in raw or ():
            if not isinstance(spec, Mapping) or "href" not in spec:
                continue
            ops = spec.get("op", default_ops)
            for op in (ops,) if isinstance(ops, str) else ops:
                method = spec.get("htv:methodName") or _DEFAULT_METHODS.get(op, "GET")
                forms.append(
                    Form(
                        href=urljoin(self.base, str(spec["href"])),
                        method=str(method).upper(),
                        op=str(op),
                        content_type=str(spec.get("contentType", "application/json")),
                        subprotocol=spec.get("subprotocol"),
                    )
                )
        return tuple(forms)
