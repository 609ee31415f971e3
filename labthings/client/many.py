"""`Lab`: the Things of several servers, driven together.

A lab is given its servers' URLs or finds them on the network, names each server, and
qualifies each Thing with its server's name: `pc1/stage`. Server names are unique by
construction (a mapping's keys, or the distinct URLs or advertised names), and a Thing's
name never contains `/`, so a qualified name splits at its last `/` into exactly one
server and one Thing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from labthings.client.arguments import action_body
from labthings.client.connection import Reconnect
from labthings.client.errors import ClientError, NotOffered, ServerUnreachable
from labthings.client.group import Group
from labthings.client.invocation import Invocation
from labthings.client.lab import LabClient, ThingsByName
from labthings.client.thing import ThingClient, server_url

__all__ = ["Call", "Lab", "server_name"]

Call = tuple[str, str] | tuple[str, str, Mapping[str, Any]]
"""What `Lab.start` starts: `(qualified thing, action)` or with a mapping of arguments."""
_WORKERS = 8
"""Servers asked at once when connecting, and invocations started at once."""
_T = TypeVar("_T")
_R = TypeVar("_R")


def server_name(url: str) -> str:
    """The name a server given by URL has in a Lab: `host:port` as the URL writes it,
    followed by its path if it is not served at the root (`lab-pc:7485`,
    `lab-pc:7485/lab2`)."""
    parts = urlsplit(server_url(url))
    return parts.netloc + parts.path.rstrip("/")


def _named(urls: Iterable[str]) -> dict[str, str]:
    """Each URL by its `server_name`; the same server twice is kept once, and two
    different URLs with one name (`http://` and `https://` of one host) are refused."""
    named: dict[str, str] = {}
    for url in urls:
        name = server_name(url)
        known = named.setdefault(name, url)
        if server_url(known).rstrip("/") != server_url(url).rstrip("/"):
            raise ValueError(f"{known} and {url} would both be named {name!r}: name them")
    return named


def _check_names(names: Iterable[str]) -> None:
    """Refuse a name that would not split off a qualified name: empty, or ending in `/`."""
    for name in names:
        if not name or name.endswith("/"):
            raise ValueError(f"{name!r} cannot name a server in a lab")


def _in_parallel(work: Callable[[_T], _R], items: Sequence[_T]) -> list[_R]:
    """`work` applied to each item on a few threads at once, in the items' order."""
    if len(items) <= 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(min(_WORKERS, len(items)), "labthings-lab") as pool:
        return list(pool.map(work, items))


def _attempt(make: Callable[[], _R]) -> _R | ClientError:
    """What `make()` returns, or the ClientError it raised."""
    try:
        return make()
    except ClientError as error:
        return error


class Lab(ThingsByName):
    """The Things of several servers. `lab.things` lists them as `server/thing`;
    `lab["pc1/stage"]` is one's ThingClient; `lab.start([...])` starts actions on
    several at once and returns a `Group` that follows them all.

    `servers` holds the LabClient of each server that answered, by name; `unreachable`
    says why each of the others could not be used (name -> reason). Close the lab (or
    use `with`) to free the connections of all.
    """

    def __init__(
        self, servers: Mapping[str, LabClient], unreachable: Mapping[str, str] | None = None
    ) -> None:
        _check_names(servers)
        self.servers: dict[str, LabClient] = dict(servers)
        self.unreachable: dict[str, str] = dict(unreachable or {})
        self.things: list[str] = [
            f"{name}/{thing}" for name, server in self.servers.items() for thing in server
        ]
        """Every Thing of the servers that answered, as `server/thing`."""

    @classmethod
    def from_urls(
        cls,
        urls: Iterable[str] | Mapping[str, str],
        token: str | None = None,
        *,
        timeout: float = 10.0,
        reconnect: Reconnect | None = None,
    ) -> Lab:
        """The servers at `urls`, asked all at once: a mapping names them (`{"pc1":
        "http://lab-pc1:7485/"}`), a list names each by `server_name(url)` (the same
        server given twice is one). `token` is sent to every one; `timeout` and
        `reconnect` are as for `LabClient.from_url`.

        A server that cannot be used is left out and listed in `unreachable`. Raises
        that server's error if it was the only one, `ServerUnreachable` naming each
        reason if none could be used, ValueError if two URLs would share a name.
        """
        named = dict(urls) if isinstance(urls, Mapping) else _named(urls)
        if not named:
            raise ValueError("a lab needs at least one server URL")
        _check_names(named)

        def connect(url: str) -> LabClient | ClientError:
            return _attempt(
                lambda: LabClient.from_url(url, token, timeout=timeout, reconnect=reconnect)
            )

        answers = dict(zip(named, _in_parallel(connect, list(named.values())), strict=True))
        failed = {name: error for name, error in answers.items() if isinstance(error, ClientError)}
        servers = {n: lab for n, lab in answers.items() if isinstance(lab, LabClient)}
        if not servers:
            if len(failed) == 1:
                raise next(iter(failed.values()))
            reasons = "; ".join(f"{name}: {error}" for name, error in failed.items())
            raise ServerUnreachable(f"none of the lab's servers could be used ({reasons})")
        return cls(servers, {name: str(error) for name, error in failed.items()})

    @classmethod
    def discover(
        cls,
        search: float = 3.0,
        token: str | None = None,
        *,
        timeout: float = 10.0,
        reconnect: Reconnect | None = None,
    ) -> Lab:
        """The servers that answer on the local network within `search` seconds (as
        `labthings discover` finds them), each named by the name it advertises (`Demo
        microscope on lab-pc`; DNS-SD keeps those unique). Raises `ServerUnreachable`
        if multicast DNS cannot be used here or no server could be used."""
        from labthings.discovery import DiscoveryError, discover  # zeroconf only when used

        try:
            found = discover(search, token=token)
        except DiscoveryError as error:
            raise ServerUnreachable(f"cannot look for servers: {error}") from error
        if not found:
            raise ServerUnreachable(f"no labthings server answered within {search:g} s")
        unreachable = {server.name: server.error for server in found if server.error}
        usable = {server.name: server.url for server in found if not server.error}
        if not usable:
            reasons = "; ".join(f"{name}: {error}" for name, error in unreachable.items())
            raise ServerUnreachable(f"no server found could be used ({reasons})")
        lab = cls.from_urls(usable, token, timeout=timeout, reconnect=reconnect)
        lab.unreachable.update(unreachable)
        return lab

    def __repr__(self) -> str:
        return f"<Lab of {', '.join(self.servers)}: {len(self.things)} things>"

    def thing(self, qualified: str) -> ThingClient:
        """The client of the Thing `server/thing` (its TD is read once). Raises
        `ServerUnreachable` for a server in `unreachable`, `NotOffered` otherwise."""
        server, thing = self.split(qualified)
        return self.servers[server].thing(thing)

    def split(self, qualified: str) -> tuple[str, str]:
        """`server/thing` as (server, thing), the server checked to be one of the lab's."""
        server, slash, thing = qualified.rpartition("/")
        if not slash or not thing:
            raise NotOffered(f"name a thing of a lab as SERVER/THING, not {qualified!r}")
        if server in self.unreachable:
            raise ServerUnreachable(f"{server} could not be used: {self.unreachable[server]}")
        if server not in self.servers:
            known = ", ".join(self.servers)
            raise NotOffered(f"the lab has no server {server!r} (its servers: {known})")
        return server, thing

    def start(self, calls: Iterable[Call]) -> Group:
        """Start each `(thing, action, arguments)` at once and return the Group that
        follows them, each known as `thing.action` (`pc1/stage.move`; a repeat gets
        `#2`...).

        Every call is checked first, and nothing is sent if one names an unknown server,
        Thing or action (`NotOffered`) or has arguments that do not fit
        (`InvalidArguments`, `InvalidInput`). A server that cannot be reached, or refuses
        to start one, is that member's error in the group, not raised.
        """
        planned = [_plan(self, call) for call in calls]
        if not planned:
            raise ValueError("nothing to start: give (thing, action, arguments) calls")

        def begin(plan: _Plan) -> Invocation | ClientError:
            thing = plan.thing
            if isinstance(thing, ClientError):
                return thing
            return _attempt(lambda: thing.invoke(plan.action, **plan.arguments))

        started = _in_parallel(begin, planned)
        labels = _labels([plan.which for plan in planned])
        return Group(list(zip(labels, started, strict=True)))

    def invoke_all(self, things: Iterable[str], action: str, /, **arguments: Any) -> Group:
        """Start `action` with the same arguments on each of `things` (qualified
        names) at once, as `start` does."""
        return self.start([(thing, action, arguments) for thing in things])

    def close(self) -> None:
        """Close every server's connection."""
        for server in self.servers.values():
            server.close()


@dataclass(frozen=True)
class _Plan:
    """A call checked before anything is sent: its name in the group, its ThingClient (or
    the error that kept its server from being reached), its action and arguments."""

    which: str
    thing: ThingClient | ClientError
    action: str
    arguments: dict[str, Any]


def _plan(lab: Lab, call: Call) -> _Plan:
    qualified, action, *rest = call
    arguments = dict(rest[0]) if rest else {}
    which = f"{qualified}.{action}"
    try:
        thing = lab.thing(qualified)
    except ServerUnreachable as error:
        return _Plan(which, error, action, arguments)
    action_body(thing.td.affordance("actions", action), (), arguments)
    return _Plan(which, thing, action, arguments)


def _labels(names: list[str]) -> list[str]:
    """Each name, repeats numbered: `a`, `a#2`, `a#3`."""
    seen: Counter[str] = Counter()
    labels = []
    for name in names:
        seen[name] += 1
        labels.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return labels
