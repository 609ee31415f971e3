"""Request bodies bounded before the app sees them: `BodyLimit`, a WSGI middleware."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["BodyLimit", "RETRY_AFTER_SECONDS"]

RETRY_AFTER_SECONDS = 5
"""What a 503 for too many bodies being received asks the client to wait."""


class BodyLimit:
    """WSGI middleware: a body over `max_bytes`, on any method, is a 413 problem, and at
    most `max_receiving` requests receive their bodies at once.

    A `Content-Length` over the limit is refused without reading a byte of the body. A
    chunked body (no `Content-Length`) is read up to one byte past the limit, so at most
    `max_bytes` are held; one that fits is handed to the app as if it had been sent
    with a `Content-Length`. A chunked body that reads as empty is a 400: the engine
    gives an empty body for broken chunk framing too, and a request must not run
    without what its client meant to send.

    The engine calls the app before a body has arrived, and reading it waits for the
    client however long it takes: a client that sends its body slowly, or never
    finishes it, holds a thread. So a request past `max_receiving` bodies being
    received is a 503 with `Retry-After`, before reading anything, and such clients can
    never take the threads that other requests (reads, streams) need.
    """

    def __init__(self, app: WSGIApplication, max_bytes: int, max_receiving: int) -> None:
        self._app = app
        self._max = max_bytes
        self._max_receiving = max_receiving
        self._receiving = 0
        self._lock = threading.Lock()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        length = environ.get("CONTENT_LENGTH")
        if length:
            if not length.isdigit():
                return self._app(environ, start_response)  # the app's parser says why
            size = int(length)
            if size > self._max:
                return _problem(
                    start_response,
                    413,
                    f"the body may be at most {self._max} bytes; {size} bytes were sent",
                )
            if size == 0:
                return self._app(environ, start_response)
            to_read = size
        elif "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            to_read = self._max + 1
        else:
            return self._app(environ, start_response)
        with self._lock:
            busy = self._receiving >= self._max_receiving
            if not busy:
                self._receiving += 1
        if busy:
            return _problem(
                start_response,
                503,
                f"the server is already receiving {self._max_receiving} request bodies;"
                " try again later",
                [("Retry-After", str(RETRY_AFTER_SECONDS))],
            )
        try:
            body = environ["wsgi.input"].read(to_read)
        finally:
            with self._lock:
                self._receiving -= 1
        if length is None:
            if len(body) > self._max:
                return _problem(
                    start_response,
                    413,
                    f"the body may be at most {self._max} bytes; more than that were sent",
                )
            if not body:
                return _problem(
                    start_response,
                    400,
                    "the chunked body is empty or its chunks are malformed; send the body"
                    " with a Content-Length, or as well-formed chunks",
                )
            environ["CONTENT_LENGTH"] = str(len(body))
        environ["wsgi.input"] = io.BytesIO(body)  # short if the client went away: the app says so
        return self._app(environ, start_response)


def _problem(
    start_response: StartResponse,
    status: int,
    detail: str,
    headers: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    """An RFC 9457 problem response, made without the app (titled as the app's are)."""
    title = HTTPStatus(status).phrase
    body = json.dumps(
        {"type": "about:blank", "title": title, "status": status, "detail": detail}
    ).encode()
    start_response(
        f"{status} {title}",
        [
            ("Content-Type", "application/problem+json"),
            ("Content-Length", str(len(body))),
            *(headers or []),
        ],
    )
    return [body]
