"""Servers found by name on the local network (DNS-SD), for `ThingClient.from_name` and
`LabClient.from_name`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from labthings.client.errors import NotOffered, ServerUnreachable

if TYPE_CHECKING:
    from labthings.discovery import Found

__all__ = ["named_server"]


def named_server(name: str, *, search: float = 3.0, token: str | None = None) -> Found:
    """The server advertised as `name` (its instance name, `<title> on <host>`, or its
    title alone when one server has it), listening `search` seconds (by instance name,
    only until it answers); its `url` is its root and its `things` what it serves.

    Raises ServerUnreachable if multicast DNS cannot be used here, and NotOffered, naming
    what was found, if no server (or more than one, by title) answers to `name`.
    """
    from labthings.discovery import DiscoveryError, discover  # zeroconf only when used

    try:
        found = discover(search, token=token, name=name)
    except DiscoveryError as error:
        raise ServerUnreachable(f"cannot look for {name!r}: {error}") from error
    exact = [server for server in found if server.name == name]
    titled = [server for server in found if server.title == name]
    matches = exact or titled
    if len(matches) == 1:
        return matches[0]
    heard = ", ".join(repr(server.name) for server in found) or "none"
    if matches:
        raise NotOffered(
            f"{len(matches)} servers are titled {name!r}: give one's full name ({heard})"
        )
    raise NotOffered(f"no server named {name!r} answered within {search:g} s (found: {heard})")
