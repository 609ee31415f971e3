"""Web pages of other sites cannot drive the lab; the origins allowed with CORS can.

A browser sends a POST of a form or a `fetch` with a plain body to any server without
asking first (no CORS preflight), so a page on the internet could start an action on a
lab PC that its visitor can reach. A POST, PUT, DELETE or PATCH is therefore refused
with `403`, whatever its body (an empty one too), when the browser says it comes from
another site (`Sec-Fetch-Site: cross-site` or `same-site`) or its `Origin` is neither
the server's own (the scheme and `Host` of the request) nor one allowed with
`--cors-origin`. Clients that are not browsers send neither header and are not affected.

No CORS header is sent unless an origin is allowed. For an allowed origin, preflights
(`OPTIONS` with `Access-Control-Request-Method`) are answered without a token, and every
answer carries `Access-Control-Allow-Origin` and `Vary: Origin`, and exposes the headers
clients of this API read. No cookies are used, so credentials are never allowed.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from flask import Request, Response

from labthings.core.errors import ConfigurationError
from labthings.http.problems import problem

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

__all__ = ["cors_headers", "normalise_origin", "origin_check"]

_WRITE_METHODS = frozenset({"POST", "PUT", "DELETE", "PATCH"})
_OTHER_SITES = frozenset({"cross-site", "same-site"})
_DEFAULT_PORTS = {"http": "80", "https": "443"}
_ALLOW_METHODS = "GET, HEAD, OPTIONS, POST, PUT, DELETE"
_ALLOW_HEADERS = "Authorization, Content-Type, Prefer, Idempotency-Key, Last-Event-ID"
_EXPOSE_HEADERS = "Location, ETag, Link, Retry-After, Preference-Applied, LabThings-Reused"
_PREFLIGHT_MAX_AGE = "600"


def normalise_origin(origin: str) -> str:
    """`scheme://host[:port]` in lower case without a default port, as browsers send it.

    Raises ConfigurationError if `origin` is not an http(s) origin (a path, `*`, ...).
    """
    parts = urlsplit(origin.strip())
    try:
        port = parts.port
    except ValueError:
        port = -1
    if (
        parts.scheme not in _DEFAULT_PORTS
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username is not None
        or port == -1
    ):
        raise ConfigurationError(
            f"{origin!r} is not an origin: give the scheme, host and port of the page that "
            "may use this server, e.g. https://notebooks.example.org:8888"
        )
    return _origin(parts.scheme, parts.netloc.lower())


def _origin(scheme: str, netloc: str) -> str:
    """The origin of `scheme` and `netloc` (`host`, `host:port`, `[v6]:port`)."""
    scheme, netloc = scheme.lower(), netloc.lower()
    if scheme in _DEFAULT_PORTS and netloc.endswith(default := ":" + _DEFAULT_PORTS[scheme]):
        netloc = netloc[: -len(default)]
    return f"{scheme}://{netloc}"


def _sent_origin(origin: str) -> str:
    """An `Origin` header as `normalise_origin` gives it (`null` stays `null`)."""
    scheme, separator, netloc = origin.partition("://")
    return _origin(scheme, netloc) if separator else origin.lower()


def origin_check(allowed: Collection[str]) -> Callable[[Request], Response | None]:
    """A check of a request: a `403` problem for a write from another site's
    page, the answer to a preflight from an `allowed` origin, else None."""
    allowed_origins = frozenset(allowed)

    def check(request: Request) -> Response | None:
        environ = request.environ
        origin = environ.get("HTTP_ORIGIN")
        method = environ["REQUEST_METHOD"]
        if origin is not None and _sent_origin(origin) in allowed_origins:
            if method == "OPTIONS" and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ:
                return _preflight()
            return None
        if method not in _WRITE_METHODS:
            return None
        site = environ.get("HTTP_SEC_FETCH_SITE")
        if site in _OTHER_SITES:
            return _refuse(method, f"a web page of another site ({origin or site})")
        if origin is not None and _sent_origin(origin) != _origin(request.scheme, request.host):
            return _refuse(method, f"a web page of another origin ({origin})")
        return None

    return check


def cors_headers(allowed: Collection[str]) -> Callable[[Response, WSGIEnvironment], Response]:
    """Adds CORS headers to a response to a request (its WSGI environ) from one of the
    `allowed` origins, and `Vary: Origin` to every response (a cache must not give one
    origin's answer to another)."""
    allowed_origins = frozenset(allowed)

    def add(response: Response, environ: WSGIEnvironment) -> Response:
        response.vary.add("Origin")
        origin = environ.get("HTTP_ORIGIN")
        if origin is not None and _sent_origin(origin) in allowed_origins:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = _EXPOSE_HEADERS
        return response

    return add


def _preflight() -> Response:
    return Response(
        status=204,
        headers={
            "Access-Control-Allow-Methods": _ALLOW_METHODS,
            "Access-Control-Allow-Headers": _ALLOW_HEADERS,
            "Access-Control-Max-Age": _PREFLIGHT_MAX_AGE,
        },
    )


def _refuse(method: str, sender: str) -> Response:
    return problem(
        403,
        f"refused: this {method} was sent by {sender}. A page that should control "
        "this lab must be allowed when the server starts (--cors-origin ORIGIN).",
    )
