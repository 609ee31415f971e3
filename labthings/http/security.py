"""Who may use a server, and from where: the options, and the checks in their order.

Every request passes, in this order: the `Host` check (`hosts.py`, 421), the origin
check and CORS preflights (`origins.py`, 403 for another site's writes), then the token
check (`auth.py`, 401/403) if the server has a token store. The Host and origin checks
are always on; tokens are checked once the store has a token.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Flask, Request, Response, request

from labthings.core.access.tokens import TokenStore
from labthings.core.describe.routes import ROUTES
from labthings.http.auth import token_check
from labthings.http.hosts import host_check, normalise_host
from labthings.http.origins import cors_headers, normalise_origin, origin_check

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

__all__ = ["Access", "RequestChecks", "register_security"]


@dataclass(frozen=True)
class Access:
    """A server's access options: its token store (None: no tokens are checked), the
    origins of web pages allowed to use it (CORS), and the extra names it answers to."""

    tokens: TokenStore | None = None
    cors_origins: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        tokens: TokenStore | None = None,
        cors_origins: Iterable[str] = (),
        allowed_hosts: Iterable[str] = (),
    ) -> Access:
        """Checked and normalised options; ConfigurationError names a bad origin or host."""
        return cls(
            tokens,
            tuple(dict.fromkeys(normalise_origin(origin) for origin in cors_origins)),
            tuple(dict.fromkeys(normalise_host(host) for host in allowed_hosts)),
        )

    def secured(self) -> bool:
        """Whether requests need a token now (the TD and OpenAPI document say so)."""
        return self.tokens is not None and self.tokens.in_use()


class RequestChecks:
    """The checks every request passes, in the module's order, and the CORS headers its
    answer gets: one object for the Flask app's hooks and for `PropertyFastPath`."""

    def __init__(self, access: Access) -> None:
        self._checks = [host_check(access.allowed_hosts), origin_check(access.cors_origins)]
        if access.tokens is not None:
            public = {route.endpoint for route in ROUTES if route.public}
            streams = {route.endpoint for route in ROUTES if route.stream}
            self._checks.append(token_check(access.tokens, public=public, streams=streams))
        self._cors = cors_headers(access.cors_origins) if access.cors_origins else None

    def refusal(self, request: Request) -> Response | None:
        """The answer refusing `request` (whose `endpoint` is known), or None to serve it."""
        for check in self._checks:
            refused = check(request)
            if refused is not None:
                return refused
        return None

    def finish(self, response: Response, environ: WSGIEnvironment) -> Response:
        """`response` with the CORS headers the request (its WSGI environ) calls for."""
        return response if self._cors is None else self._cors(response, environ)


def register_security(app: Flask, access: Access) -> RequestChecks:
    """Check every request to `app` in one hook; the checks, for other ways in."""
    checks = RequestChecks(access)

    def check_request() -> Response | None:
        # The request itself, once: each use of Flask's proxy costs about a microsecond.
        return checks.refusal(request._get_current_object())  # type: ignore[attr-defined]

    app.before_request(check_request)
    if access.cors_origins:
        app.after_request(lambda response: checks.finish(response, request.environ))
    return checks
