"""Request bodies bounded before the app sees them: `BodyLimit`, a WSGI middleware."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["BodyLimit"]


class BodyLimit:
    """WSGI middleware: a body over `max_bytes`, on any method, is a 413 problem.

    A `Content-Length` over the limit is refused without reading a byte of the body. A
    chunked body (no `Content-Length`) is read up to one byte past the limit, so at most
    `max_bytes` are held; one that fits is handed to the app as if it had been sent
    with a `Content-Length`.
    """

    def __init__(self, app: WSGIApplication, max_bytes: int) -> None:
        self._app = app
        self._max = max_bytes

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        length = environ.get("CONTENT_LENGTH")
        if length:
            if length.isdigit() and int(length) > self._max:
                return self._too_large(start_response, f"{int(length)} bytes")
        elif "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            body = environ["wsgi.input"].read(self._max + 1)
            if len(body) > self._max:
                return self._too_large(start_response, "more than that")
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return self._app(environ, start_response)

    def _too_large(self, start_response: StartResponse, sent: str) -> list[bytes]:
        body = json.dumps(
            {
                "type": "about:blank",
                "title": "Payload Too Large",
                "status": 413,
                "detail": f"the body may be at most {self._max} bytes; {sent} were sent",
            }
        ).encode()
        start_response(
            "413 Payload Too Large",
            [
                ("Content-Type", "application/problem+json"),
                ("Content-Length", str(len(body))),
            ],
        )
        return [body]
