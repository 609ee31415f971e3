"""Who may use a server, and from where: the options, and the checks in their order.

Every request passes, in this order: the `Host` check (`hosts.py`, 421), the origin
check and CORS preflights (`origins.py`, 403 for another site's writes), then the token
check (`auth.py`, 401/403) if the server has a token store. The Host and origin checks
are always on; tokens are checked once the store has a token.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from flask import Flask, Request, Response, request

from labthings.core.access.tokens import TokenStore
from labthings.core.describe.routes import ROUTES
from labthings.http.auth import token_check
from labthings.http.hosts import host_check, normalise_host
from labthings.http.origins import cors_headers, normalise_origin, origin_check

__all__ = ["Access", "register_security"]


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


def register_security(app: Flask, access: Access) -> None:
    """Check every request to `app`, in the order the module gives, in one hook."""
    checks = [host_check(access.allowed_hosts), origin_check(access.cors_origins)]
    if access.tokens is not None:
        public = {route.endpoint for route in ROUTES if route.public}
        streams = {route.endpoint for route in ROUTES if route.stream}
        checks.append(token_check(access.tokens, public=public, streams=streams))

    def check_request() -> Response | None:
        # The request itself, once: each use of Flask's proxy costs about a microsecond.
        current: Request = request._get_current_object()  # type: ignore[attr-defined]
        for check in checks:
            refused = check(current)
            if refused is not None:
                return refused
        return None

    app.before_request(check_request)
    if access.cors_origins:
        app.after_request(cors_headers(access.cors_origins))
