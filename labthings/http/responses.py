"""JSON responses, whatever the request's Accept header says, and `WholeBodyResponse`."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from flask import Response
from werkzeug.datastructures import Headers

from labthings.core.jsonvalues import json_text

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["WholeBodyResponse", "json_response"]


class WholeBodyResponse(Response):
    """A response whose body, when it is already in memory, reaches the server as a
    one-item list rather than werkzeug's closing iterator.

    A WSGI server writes a list at once; an iterator it must call back into Python for
    each chunk, and once more to close it, each time taking the GIL: about 5 % of a
    property GET served by granian (`bench/compare.py`, W1). Streamed bodies (event
    streams, files) and responses with close callbacks are handed over as before.
    """

    def get_wsgi_headers(self, environ: WSGIEnvironment) -> Headers:
        """Werkzeug's headers, but the `Location` of a 201 (a POST that started an
        action) skips `iri_to_uri` when it is already a plain URI, as labthings makes
        them: `iri_to_uri` would give it back unchanged after about 9 µs of parsing and
        quoting. Other responses are not searched for a `Location` at all."""
        if self.status_code != 201:
            return super().get_wsgi_headers(environ)
        location = self.headers.get("Location")
        if (
            location is None
            or self.autocorrect_location_header
            or not _PLAIN_URI.fullmatch(location)
        ):
            return super().get_wsgi_headers(environ)
        del self.headers["Location"]
        try:
            headers = super().get_wsgi_headers(environ)
        finally:
            self.headers["Location"] = location
        headers["Location"] = location
        return headers

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if not self.is_sequence or self._on_close:
            return super().__call__(environ, start_response)
        body, status, headers = self.get_wsgi_response(environ)
        start_response(status, headers)
        try:
            return [b"".join(body)]
        finally:
            body.close()  # type: ignore[attr-defined]  # werkzeug's ClosingIterator


_PLAIN_URI = re.compile(r"https?://[a-z0-9.-]+(:[1-9][0-9]{0,4})?/[A-Za-z0-9._~%!$&'()*+,/:;=@-]*")
"""A URI `iri_to_uri` gives back as it is: a lower-case host name or IPv4 address, a port
without leading zeros, and a path of characters it leaves unquoted."""


def json_response(
    value: Any,
    status: int = 200,
    *,
    headers: Mapping[str, str] | None = None,
    mimetype: str = "application/json",
) -> Response:
    """`value` as compact, strict JSON (never NaN or infinity, always valid UTF-8)."""
    body = json_text(value)
    return WholeBodyResponse(body, status=status, headers=dict(headers or {}), mimetype=mimetype)
