"""Only the server's own names: a request for any other `Host` is `421` (DNS rebinding).

A web page on `evil.example` can make its own name resolve to a lab PC's address a
moment after it loaded; the browser then treats the lab server as that page's own
origin, and its requests carry `Host: evil.example`. So a `Host` is accepted only if it
is an IP literal, `localhost`, one of the machine's names (`socket.gethostname()`,
`socket.getfqdn()`), or a name allowed with `--allowed-host` (a name the server is
reached by through DNS or a reverse proxy).
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from collections.abc import Callable, Collection

from flask import Request, Response

from labthings.core.errors import ConfigurationError
from labthings.http.problems import problem

__all__ = ["host_check", "machine_names", "normalise_host"]

_SEEN_HOSTS = 256
"""Host headers remembered with their verdict (a server sees a few)."""


@functools.cache
def machine_names() -> frozenset[str]:
    """`localhost` and this machine's names, in lower case (looked up once: getfqdn may
    ask DNS)."""
    names = {"localhost"}
    for name in (socket.gethostname(), socket.getfqdn()):
        if name:
            names.add(name.lower().rstrip("."))
    return frozenset(names)


def normalise_host(name: str) -> str:
    """A host name for `--allowed-host`, in lower case without a trailing dot; raises
    ConfigurationError for something that is not a host name (a URL, a port, spaces)."""
    host = name.strip().lower().rstrip(".")
    if not host or not all(
        label and len(label) <= 63 and label.replace("-", "").replace("_", "").isalnum()
        for label in host.split(".")
    ):
        raise ConfigurationError(
            f"{name!r} is not a host name: give the name alone, e.g. microscope.lab.example "
            "(IP addresses are always allowed)"
        )
    return host


def host_check(allowed: Collection[str]) -> Callable[[Request], Response | None]:
    """A check of a request: a `421` problem if its `Host` is none of the
    server's (see the module), else None."""
    names = machine_names() | frozenset(allowed)

    @functools.lru_cache(maxsize=_SEEN_HOSTS)
    def accepted(host: str) -> bool:
        name = _hostname(host)
        return name in names or _is_ip(name)

    def check(request: Request) -> Response | None:
        # The raw header, as werkzeug's `request.host` costs a microsecond to work out.
        host = request.environ.get("HTTP_HOST")
        if not host:
            if request.environ.get("SERVER_PROTOCOL") != "HTTP/1.1":
                return None  # HTTP/1.0 may leave Host out (granian calls it "HTTP/1")
            return problem(400, "an HTTP/1.1 request must carry a Host header (RFC 9112 3.2)")
        if "," in host:  # the server joins repeated headers with commas
            return problem(400, "send one Host header, not several (RFC 9112 3.2)")
        if accepted(host):
            return None
        return problem(
            421,
            f"this server does not answer to the name {_hostname(host)!r}; if that is its "
            "own, start it with --allowed-host NAME",
        )

    return check


def _hostname(host: str) -> str:
    """The name or address of a `Host` header, without its port, in lower case."""
    host = host.lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    name, colon, port = host.rpartition(":")
    return (name if colon and port.isdigit() else host).rstrip(".")


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True
