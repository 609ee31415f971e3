"""Access tokens at the HTTP edge: `Authorization: Bearer <token>` on every route.

Once the server's token store has a token (see `labthings.core.access.tokens`), every
request needs one, except for the public routes of the table (the web page's and the
docs' static files, which hold nothing of the lab and must load to ask for a token).
Event streams also take it as `?access_token=` (RFC 6750 section 2.3), since a browser's
`EventSource` cannot send headers; no other route does, so tokens stay out of the URLs
that pages link to and proxies log.

No token, or one that is not (or no longer) valid: `401` with `WWW-Authenticate:
Bearer`. A credential that is not one token (`Bearer` alone, two tokens, two
`Authorization` headers, which the server joins with a comma), or a token sent both in
the header and the query: `400` with `error="invalid_request"` (RFC 6750 section 3.1).
A `read` token may GET, HEAD and OPTIONS; writing (PUT, POST, DELETE) needs a `control`
token, else `403`. The token's name is who asked, for records: it is the
request's `REMOTE_USER` (`request.remote_user`), as WSGI has it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from typing import Any

from flask import Request, Response

from labthings.core.access.tokens import Token, Tokens, TokenStore
from labthings.core.describe.operations import Target, problem_response
from labthings.http.problems import problem
from labthings.http.ui import prefers_html

__all__ = ["BEARER_SCHEME", "QUERY_PARAMETER", "SECURITY_SCHEMES", "document", "token_check"]

QUERY_PARAMETER = "access_token"
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_CHALLENGE = 'Bearer realm="labthings"'
BEARER_SCHEME = "bearerAuth"
_QUERY_SCHEME = "accessTokenQuery"
_HOW = (
    "send one as `Authorization: Bearer <token>` (`labthings token create NAME "
    "--scope read|control` makes one)"
)

SECURITY_SCHEMES: dict[str, Any] = {
    BEARER_SCHEME: {
        "type": "http",
        "scheme": "bearer",
        "description": "An access token made with `labthings token create NAME --scope "
        "read|control`. A read token may use GET; writing needs a control token.",
    },
    _QUERY_SCHEME: {
        "type": "apiKey",
        "in": "query",
        "name": QUERY_PARAMETER,
        "description": "The same token, for event streams only (EventSource cannot send headers).",
    },
}
"""The OpenAPI `components.securitySchemes` of a server that checks tokens."""


def token_check(
    tokens: TokenStore, *, public: Collection[str], streams: Collection[str]
) -> Callable[[Request], Response | None]:
    """A check of a request: a `401` or `403` problem unless it carries a token
    that allows it, or needs none (no token yet, or an endpoint in `public`). The
    endpoints in `streams` also take the token from the query."""
    public_endpoints = frozenset(public)
    stream_endpoints = frozenset(streams)

    def check(request: Request) -> Response | None:
        current = tokens.current()
        endpoint = request.endpoint
        if not current.in_use or endpoint in public_endpoints:
            return None
        if endpoint == "index" and prefers_html(request):
            return None  # a browser opening / is sent on to the web page, which asks
        header = request.environ.get("HTTP_AUTHORIZATION")
        in_query = endpoint in stream_endpoints and QUERY_PARAMETER in request.args
        token = None if header is None or in_query else current.recall(header)
        if token is None:
            identified = _identify(current, header, request.args if in_query else None)
            if isinstance(identified, Response):
                return identified
            token = identified
        if request.environ["REQUEST_METHOD"] not in _READ_METHODS and not token.may_control:
            return _refuse(
                403,
                f"the token {token.name!r} has scope {token.scope}: it may read, but changing "
                "anything needs a token with scope control",
                f'{_CHALLENGE}, error="insufficient_scope", scope="control"',
            )
        # WSGI's standard place for who is asking (`request.remote_user`), for records.
        request.environ["REMOTE_USER"] = token.name
        return None

    return check


def _identify(
    current: Tokens, header: str | None, query: Mapping[str, str] | None
) -> Token | Response:
    """The token a request carries in its `Authorization` `header` or, for a stream
    whose `query` has one, there; else the problem that refuses the request. A header
    that passes is remembered (`Tokens.recall`)."""
    given = _bearer(header)
    if query is not None:
        if given is not None:
            return _malformed(
                f"send the access token once, in the Authorization header or as"
                f" ?{QUERY_PARAMETER}=, not both"
            )
        given = query[QUERY_PARAMETER]
    if given is None:
        return _refuse(401, f"this server needs an access token: {_HOW}", _CHALLENGE)
    if not _TOKEN_SYNTAX.fullmatch(given):
        return _malformed(f"the access token is missing or is not one token: {_HOW}")
    token = current.verify(given, remember_as=None if query is not None else header)
    if token is None:
        detail = f"the access token is not valid (it may have been revoked): {_HOW}"
        return _refuse(401, detail, f'{_CHALLENGE}, error="invalid_token"')
    return token


def _bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, '' if it is empty."""
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


_TOKEN_SYNTAX = re.compile(r"[A-Za-z0-9._~+/-]+=*")
"""RFC 6750's `b64token`: what one bearer token looks like (no spaces, no commas)."""


def _malformed(detail: str) -> Response:
    """RFC 6750 section 3.1: a malformed request, a repeated or doubly sent token."""
    return _refuse(400, detail, f'{_CHALLENGE}, error="invalid_request"')


def _refuse(status: int, detail: str, challenge: str) -> Response:
    return problem(status, detail, headers={"WWW-Authenticate": challenge})


def _problem_response(description: str) -> dict[str, Any]:
    challenge = {"description": "`Bearer`, with the error.", "schema": {"type": "string"}}
    return {**problem_response(description), "headers": {"WWW-Authenticate": challenge}}


def document(operation: dict[str, Any], target: Target) -> None:
    """Every operation of a server that checks tokens: the bearer requirement (event
    streams also take the query parameter), a 401, and the 403 of a token that may not."""
    content = operation.get("responses", {}).get("200", {}).get("content", {})
    operation["security"] = [{BEARER_SCHEME: []}]
    if "text/event-stream" in content:
        operation["security"].append({_QUERY_SCHEME: []})
    responses = operation.setdefault("responses", {})
    responses["401"] = _problem_response("No access token, or one that is not valid.")
    responses["403"] = _problem_response(
        "The token may only read (scope read), or a web page of another site sent a write."
    )
