"""`LabClient`: a labthings server as a whole, from its index (`GET /`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator, Mapping
from typing import Any
from urllib.parse import urljoin

from labthings.client.connection import Closing, Connection, Reconnect
from labthings.client.errors import NotOffered
from labthings.client.named import named_server
from labthings.client.thing import ThingClient, server_url

__all__ = ["LabClient", "ThingsByName"]


class ThingsByName(Closing, ABC):
    """Things known by name: `things` lists the names, `x[name]` (or `x.thing(name)`)
    is the ThingClient of one, `name in x` asks, iterating gives the names."""

    things: Collection[str]

    @abstractmethod
    def thing(self, name: str) -> ThingClient:
        """The client of the Thing `name`."""

    def __getitem__(self, name: str) -> ThingClient:
        return self.thing(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.things)

    def __contains__(self, name: object) -> bool:
        return name in self.things


class LabClient(ThingsByName):
    """The Things of one server: `lab.things` names them, `lab["stage"]` (or
    `lab.thing("stage")`) is the ThingClient of one, made on first use and kept. All of
    them share one connection; close the LabClient (or use `with`) to free it."""

    def __init__(self, index: Mapping[str, Any], url: str, connection: Connection) -> None:
        things = index.get("things")
        if not isinstance(things, Mapping):
            raise NotOffered(f"{url} is not a labthings server (its index lists no things)")
        self.url = url
        self.title = str(index.get("title") or "")
        self.description = str(index.get("description") or "")
        self.things: dict[str, dict[str, Any]] = {
            name: dict(entry) for name, entry in things.items() if isinstance(entry, Mapping)
        }
        """name -> `{"title", "href"}` as the index lists them."""
        self._connection = connection
        self._clients: dict[str, ThingClient] = {}

    @classmethod
    def from_url(
        cls,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 10.0,
        reconnect: Reconnect | None = None,
    ) -> LabClient:
        """The server at `url` (e.g. `http://lab-pc:7485/`); `token` as for ThingClient."""
        connection = Connection(token, timeout=timeout, reconnect=reconnect)
        root = server_url(url)
        index, answered = connection.document(root, "application/json")
        if not isinstance(index, Mapping):
            raise NotOffered(f"{root} is not a labthings server (its index is not JSON)")
        return cls(index, answered, connection)

    @classmethod
    def from_name(
        cls,
        server: str,
        token: str | None = None,
        *,
        search: float = 3.0,
        timeout: float = 10.0,
        reconnect: Reconnect | None = None,
    ) -> LabClient:
        """The server advertised on the local network as `server` (its name, or its title
        if only one server has it), found within `search` seconds; errors as for
        `ThingClient.from_name`."""
        found = named_server(server, search=search, token=token)
        return cls.from_url(found.url, token, timeout=timeout, reconnect=reconnect)

    def __repr__(self) -> str:
        return f"<LabClient {self.title!r} at {self.url}: {', '.join(self.things)}>"

    def thing(self, name: str) -> ThingClient:
        """The client of the Thing `name` (its TD is read once)."""
        if name not in self.things:
            known = ", ".join(self.things) or "none"
            raise NotOffered(
                f"{self.title or self.url} has no thing {name!r} (its things: {known})"
            )
        if name not in self._clients:
            href = urljoin(self.url, str(self.things[name].get("href") or f"{name}/"))
            self._clients[name] = ThingClient.from_url(href, connection=self._connection)
        return self._clients[name]

    def close(self) -> None:
        """Close the shared connection."""
        self._connection.close()
