"""Find labthings servers on the local network by multicast DNS (DNS-SD), with their Things.

`discover(timeout)` browses both services a server advertises (`records.py`) for
`timeout` seconds, merges what it hears per server, and asks each server for its index
(`GET /`: its title and Things). It needs no Flask and no HTTP library beyond Python's.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from zeroconf import IPVersion, ServiceBrowser, ServiceListener, Zeroconf

from labthings.discovery.records import SERVICE_TYPES, root_path

__all__ = ["DiscoveryError", "Found", "FoundThing", "discover"]

_INFO_WAIT_MS = 1500
_INDEX_TIMEOUT = 3.0
# Servers are on the local network: never through a proxy the environment names.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class DiscoveryError(Exception):
    """Multicast DNS cannot be used here (no network, or multicast refused)."""


@dataclass(frozen=True)
class FoundThing:
    """A Thing of a server found: its name on the server, its title and its TD's URL."""

    name: str
    title: str
    url: str


@dataclass(frozen=True)
class Found:
    """A labthings server found on the network.

    `name` is the instance name it advertises (`<title> on <host>`), `url` its root
    (`http://address:port/`), `things` what its index lists. `error` says why the index
    could not be read (the server refused or did not answer); `things` is then empty.
    """

    name: str
    url: str
    title: str = ""
    things: tuple[FoundThing, ...] = ()
    services: tuple[str, ...] = ()
    error: str | None = None

    def thing(self, name: str) -> FoundThing:
        """The Thing served as `name`; KeyError if the server has none."""
        for found in self.things:
            if found.name == name:
                return found
        raise KeyError(f"{self.name} serves no Thing {name!r}")


@dataclass
class _Heard:
    """What the records of one server said: its addresses, port, root and services."""

    name: str
    port: int
    path: str
    addresses: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)


class _Listener(ServiceListener):
    """Collects the (service type, name) pairs announced while browsing; `heard_wanted`
    is set once a record of the instance named `wanted` is among them."""

    def __init__(self, wanted: str | None = None) -> None:
        self._lock = threading.Lock()
        self._wanted = wanted
        self.names: list[tuple[str, str]] = []
        self.heard_wanted = threading.Event()

    def add_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        with self._lock:
            if (type_, name) not in self.names:
                self.names.append((type_, name))
        if self._wanted is not None and _instance(type_, name) == self._wanted:
            self.heard_wanted.set()

    def update_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        self.add_service(zc, type_, name)

    def remove_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        with self._lock:
            if (type_, name) in self.names:
                self.names.remove((type_, name))


def discover(
    timeout: float = 3.0, *, token: str | None = None, name: str | None = None
) -> list[Found]:
    """The labthings servers that answer on the local network within `timeout` seconds,
    sorted by name, each with the Things its index lists (read with `token` if given).

    With `name`, listening stops as soon as the server of that instance name is heard
    (instance names are unique on a network), so looking one up takes a moment, not
    `timeout`; the servers heard until then are returned.

    Raises DiscoveryError if multicast DNS cannot be used here at all.
    """
    try:
        zeroconf = Zeroconf(ip_version=IPVersion.V4Only)
    except OSError as error:
        raise DiscoveryError(f"multicast DNS cannot be used here: {error}") from error
    try:
        listener = _Listener(name)
        browser = ServiceBrowser(zeroconf, list(SERVICE_TYPES), listener)
        listener.heard_wanted.wait(max(0.0, timeout))
        browser.cancel()
        heard = _merge(zeroconf, list(listener.names))
    finally:
        zeroconf.close()
    found = [_visit(server, token) for server in heard.values()]
    return sorted(found, key=lambda server: (server.name.lower(), server.url))


def _merge(zeroconf: Zeroconf, names: list[tuple[str, str]]) -> dict[tuple[str, int, str], _Heard]:
    """The servers behind the records heard, by (name, port, root path): a server
    advertising both services is one server."""
    servers: dict[tuple[str, int, str], _Heard] = {}
    for service, name in names:
        info = zeroconf.get_service_info(service, name, timeout=_INFO_WAIT_MS)
        if info is None or not info.port:
            continue
        txt = _text(info.properties)
        path = root_path(service, txt)
        if path is None:
            continue
        instance = _instance(service, name)
        key = (instance, info.port, path)
        server = servers.setdefault(key, _Heard(instance, info.port, path))
        server.services.append(service.split(".")[0])
        for address in info.parsed_addresses(IPVersion.V4Only):
            if address not in server.addresses:
                server.addresses.append(address)
    return servers


def _instance(service: str, name: str) -> str:
    """The instance part of a DNS-SD service name (`<instance>.<service type>`)."""
    return name[: -len(service) - 1] if name.endswith("." + service) else name


def _text(properties: Mapping[bytes, bytes | None]) -> dict[str, str]:
    return {
        key.decode(errors="replace"): (value or b"").decode(errors="replace")
        for key, value in properties.items()
    }


def _visit(server: _Heard, token: str | None) -> Found:
    """A Found for `server`, from the index of the first of its addresses that answers
    (loopback last: a server on this PC is then reached as others reach it)."""
    addresses = sorted(server.addresses, key=lambda address: address.startswith("127."))
    error = "it advertised no address"
    for address in addresses:
        url = f"http://{address}:{server.port}{server.path}"
        try:
            index = _get_json(url, token)
        except OSError as failure:
            error = _reason(failure)
            continue
        things = tuple(
            FoundThing(name, str(thing.get("title", name)), str(thing.get("href", "")))
            for name, thing in dict(index.get("things") or {}).items()
        )
        return Found(server.name, url, str(index.get("title", "")), things, tuple(server.services))
    first = f"http://{addresses[0]}:{server.port}{server.path}" if addresses else ""
    return Found(server.name, first, services=tuple(server.services), error=error)


def _get_json(url: str, token: str | None) -> dict[str, Any]:
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, headers=headers)
    with _OPENER.open(request, timeout=_INDEX_TIMEOUT) as response:
        try:
            body = json.loads(response.read())
        except ValueError as error:
            raise OSError("its index is not JSON") from error
    if not isinstance(body, dict):
        raise OSError("its index is not a JSON object")
    return body


def _reason(failure: OSError) -> str:
    if isinstance(failure, urllib.error.HTTPError):
        if failure.code == 401:
            return "it needs an access token (--token or LABTHINGS_TOKEN)"
        return f"its index answered {failure.code} {failure.reason}"
    if isinstance(failure, urllib.error.URLError):
        return f"it did not answer: {failure.reason}"
    return str(failure)
