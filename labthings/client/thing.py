"""`ThingClient`: a Thing on a server, made from its Thing Description alone.

Properties are attributes (reading one GETs it, assigning PUTs it), actions are methods
with the arguments the TD's `input` declares (checked before anything is sent) that
return an `Invocation`, and `observe_property` / `subscribe_event` give event streams.
Every affordance is also reached by name (`read_property`, `write_property`, `invoke`),
which is the way for names that are not Python identifiers or that a method of
ThingClient already has.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urljoin

from labthings.client.arguments import action_body, action_signature
from labthings.client.connection import Closing, Connection, Reconnect, decode_body
from labthings.client.errors import NotOffered
from labthings.client.invocation import Invocation
from labthings.client.named import named_server
from labthings.client.streams import EventStream
from labthings.client.td import Affordance, ThingDescription

__all__ = ["ThingClient", "server_url"]


def server_url(url: str) -> str:
    """`url` with `http://` in front if it names no scheme (`localhost:7485/stage/`)."""
    return url if "://" in url else f"http://{url}"


class ThingClient(Closing):
    """A Thing on a server. Make one with `ThingClient.from_url(url, token=None)`.

    The object is of a class made for its TD, so `dir()`, `help()` and tab completion
    show its properties and actions. Close it (or use `with`) to free its connections.
    """

    def __init__(self, description: ThingDescription, connection: Connection) -> None:
        self._td = description
        self._connection = connection

    @property
    def td(self) -> ThingDescription:
        """The Thing Description, parsed (`td.document` is the JSON as served)."""
        return self._td

    @classmethod
    def from_url(
        cls,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 10.0,
        reconnect: Reconnect | None = None,
        connection: Connection | None = None,
    ) -> ThingClient:
        """The client of the Thing whose TD is at `url` (e.g. `http://lab-pc:7485/stage/`).

        `token` is sent as `Authorization: Bearer`; `timeout` bounds each request;
        `reconnect` says how long a lost stream or wait is sought again. Raises
        `ServerUnreachable`, `AccessDenied`, `NotFound` or `NotOffered` (not a TD).
        """
        connection = connection or Connection(token, timeout=timeout, reconnect=reconnect)
        document, answered = connection.document(
            server_url(url), "application/td+json, application/json"
        )
        if document is None:
            raise NotOffered(f"{url} did not answer with a Thing Description")
        return cls.from_td(document, answered, connection=connection)

    @classmethod
    def from_name(
        cls,
        server: str,
        thing: str,
        token: str | None = None,
        *,
        search: float = 3.0,
        timeout: float = 10.0,
        reconnect: Reconnect | None = None,
    ) -> ThingClient:
        """The client of the Thing `thing` of the server advertised on the local network
        as `server` (see `labthings discover`: its name, or its title if only one server
        has it), found within `search` seconds. Raises `NotOffered` naming the servers
        heard if there is no such server or Thing, `ServerUnreachable` if multicast DNS
        cannot be used here."""
        found = named_server(server, search=search, token=token)
        try:
            url = found.thing(thing).url
        except KeyError:
            served = ", ".join(t.name for t in found.things) or "none listed"
            raise NotOffered(f"{found.name} serves no Thing {thing!r} ({served})") from None
        return cls.from_url(url, token, timeout=timeout, reconnect=reconnect)

    @classmethod
    def from_td(
        cls,
        document: Mapping[str, Any],
        url: str,
        token: str | None = None,
        *,
        connection: Connection | None = None,
    ) -> ThingClient:
        """The client of a TD already in hand; `url` is where it came from (it resolves a
        TD without an absolute `base`)."""
        description = ThingDescription(document, url)
        made = _client_class(cls, description)
        return made(description, connection or Connection(token))

    def __repr__(self) -> str:
        return f"<ThingClient {self.td.title!r} at {self.td.url}>"

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_") or isinstance(getattr(type(self), name, None), property):
            object.__setattr__(self, name, value)
            return
        raise AttributeError(f"{self._td.title} has no property {name!r} to set")

    def close(self) -> None:
        """Close the connections (the connection may be shared with a LabClient)."""
        self._connection.close()

    # -- by name ----------------------------------------------------------------------

    def read_property(self, name: str) -> Any:
        """The property's value, read now."""
        form = self.td.affordance("properties", name).form("readproperty")
        return self._connection.json(form.method, form.url())

    def write_property(self, name: str, value: Any) -> Any:
        """Write the property and return what the server answered (labthings: the value
        read back; None if it sent nothing). A value the server refuses raises
        `InvalidInput` with its 422 problem (`.problem["errors"]` per field)."""
        form = self.td.affordance("properties", name).form("writeproperty")
        return self._connection.json(form.method, form.url(), body=value)

    def invoke(self, action: str, /, *args: Any, **kwargs: Any) -> Invocation:
        """Start the action with these arguments (checked against its TD first) and
        return its Invocation at once; `.wait()` or `.output` for the result."""
        affordance = self.td.affordance("actions", action)
        body = action_body(affordance, args, kwargs)
        form = affordance.form("invokeaction")
        response = self._connection.request(
            form.method, form.url(), body=body, headers={"Prefer": "respond-async"}
        )
        location = response.headers.get("Location")
        answer = decode_body(response)
        return _invocation(
            self._connection, affordance, answer, location and urljoin(response.url, location)
        )

    def observe_property(
        self, name: str, callback: Callable[[Any], object] | None = None
    ) -> EventStream:
        """The property's value now and after each change, as an iterator; or, with a
        `callback`, handed to it on a thread until `.close()`."""
        form = self.td.affordance("properties", name).form("observeproperty")
        return _stream(self._connection, form.url(), name, callback)

    def subscribe_event(
        self, name: str, callback: Callable[[Any], object] | None = None
    ) -> EventStream:
        """Each time the Thing emits the event, its data, as an iterator; or, with a
        `callback`, handed to it on a thread until `.close()`."""
        form = self.td.affordance("events", name).form("subscribeevent")
        return _stream(self._connection, form.url(), name, callback)


def _stream(
    connection: Connection, url: str, name: str, callback: Callable[[Any], object] | None
) -> EventStream:
    stream = EventStream(connection, url, name)
    return stream if callback is None else stream.start(callback)


def _invocation(
    connection: Connection, action: Affordance, answer: Any, location: str | None
) -> Invocation:
    """The handle of what an invokeaction form answered: an invocation record, or (from
    a synchronous form) the output itself."""
    if not (isinstance(answer, dict) and "id" in answer and "status" in answer):
        record = {"action": action.name, "status": "completed", "output": answer}
        return Invocation(connection, record, url=None)
    variables = {"id": str(answer["id"])}
    url = urljoin(location or "", answer["href"]) if answer.get("href") else location
    cancel_url, cancel_method = url, "DELETE"
    if action.offers("queryaction"):
        url = action.form("queryaction").url(**variables)
    if action.offers("cancelaction"):
        cancel = action.form("cancelaction")
        cancel_url, cancel_method = cancel.url(**variables), cancel.method
    return Invocation(
        connection, answer, url=url, cancel_url=cancel_url, cancel_method=cancel_method
    )


_NOT_IDENTIFIER = re.compile(r"\W+")


def _client_class(base: type[ThingClient], description: ThingDescription) -> type[ThingClient]:
    """A subclass of `base` with an attribute per property and a method per action whose
    name is an identifier that `base` does not use."""
    taken = set(dir(base))
    namespace: dict[str, Any] = {"__doc__": description.description or description.title}
    for name, affordance in description.properties.items():
        if _usable(name, taken):
            namespace[name] = _property(affordance)
    for name, affordance in description.actions.items():
        if _usable(name, taken):
            namespace[name] = _method(affordance)
    title = _NOT_IDENTIFIER.sub("", description.title.title()) or "Thing"
    return type(f"{title}Client", (base,), namespace)


def _usable(name: str, taken: set[str]) -> bool:
    return name.isidentifier() and not name.startswith("_") and name not in taken


def _property(affordance: Affordance) -> property:
    name = affordance.name

    def read(self: ThingClient) -> Any:
        return self.read_property(name)

    def write(self: ThingClient, value: Any) -> None:
        if not affordance.offers("writeproperty"):
            raise AttributeError(f"property {name!r} of {self.td.title} is read-only")
        self.write_property(name, value)

    return property(read, write, doc=affordance.description or affordance.title)


def _method(affordance: Affordance) -> Callable[..., Invocation]:
    name = affordance.name

    def invoke(self: ThingClient, *args: Any, **kwargs: Any) -> Invocation:
        return self.invoke(name, *args, **kwargs)

    invoke.__name__ = invoke.__qualname__ = name
    invoke.__doc__ = affordance.description or affordance.title
    signature = action_signature(affordance)
    self_parameter = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    invoke.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[self_parameter, *signature.parameters.values()]
    )
    return invoke
