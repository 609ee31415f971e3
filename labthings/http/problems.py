"""Every error as an RFC 9457 problem: the one place that maps exceptions to HTTP.

labthings' own errors have their statuses here. Code that wraps other libraries (a
Thing wrapping an instrument driver, say) registers how their exceptions map, with
`ErrorStatuses.register` or a Thing's `error_statuses`; the most specific registered
class of an exception decides its status. Anything else is a 500 without detail.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from flask import Flask, Response
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from labthings.core.errors import (
    ConfigurationError,
    ConflictError,
    LabThingsError,
    MethodNotAllowedError,
    NotFoundError,
    ServerBusyError,
    ShuttingDownError,
    ValidationError,
)
from labthings.http.responses import json_response

__all__ = [
    "PROBLEM_MIMETYPE",
    "ErrorStatuses",
    "error_response",
    "problem",
    "register_error_handlers",
]

PROBLEM_MIMETYPE = "application/problem+json"
_logger = logging.getLogger(__name__)
_RETRY_AFTER = {"Retry-After": "1"}


def problem(
    status: int,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    **members: Any,
) -> Response:
    """A problem+json response: `type` about:blank, `title` the status phrase."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    body.update(members)
    return json_response(body, status, headers=headers, mimetype=PROBLEM_MIMETYPE)


class ErrorStatuses:
    """Exception classes and the HTTP status each maps to; labthings' own are built in."""

    def __init__(self) -> None:
        self._statuses: dict[type[BaseException], int] = {
            NotFoundError: 404,
            MethodNotAllowedError: 405,
            ConflictError: 409,
            ValidationError: 422,
            ShuttingDownError: 503,
            ServerBusyError: 503,
        }

    def register(self, kind: type[BaseException], status: int) -> None:
        """Answer `kind` (and its subclasses, unless they have their own) with `status`.

        Its message becomes the problem's `detail`, so it must be fit for clients.
        """
        if not (isinstance(kind, type) and issubclass(kind, Exception)):
            raise ConfigurationError(f"{kind!r} is not an exception class")
        if not (isinstance(status, int) and 400 <= status <= 599):
            raise ConfigurationError(f"{kind.__name__}: {status!r} is not an HTTP error status")
        self._statuses[kind] = status

    def status_of(self, error: BaseException) -> int | None:
        """The status of the most specific registered class of `error`, or None."""
        for kind in type(error).__mro__:
            if kind in self._statuses:
                return self._statuses[kind]
        return None


def error_response(error: Exception, statuses: ErrorStatuses) -> Response:
    """The problem response to `error` raised while handling a request."""
    if isinstance(error, HTTPException):
        return _http_error(error)
    status = statuses.status_of(error)
    if status is None:
        return _unexpected_error(error)
    if isinstance(error, ValidationError):
        return problem(status, str(error), errors=error.errors)
    if isinstance(error, MethodNotAllowedError):
        return problem(status, str(error), headers={"Allow": ", ".join(error.allowed)})
    if not isinstance(error, LabThingsError):
        _logger.warning("error in request: %s: %s", type(error).__name__, error)
    return problem(status, str(error), headers=_RETRY_AFTER if status == 503 else None)


def register_error_handlers(app: Flask, statuses: ErrorStatuses) -> None:
    """Make every error of `app` a problem+json response."""
    app.register_error_handler(Exception, lambda error: error_response(error, statuses))


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    if status >= 500:
        return _unexpected_error(error)
    headers: dict[str, str] = {}
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        headers["Allow"] = ", ".join(sorted(error.valid_methods))
    detail = error.description or HTTPStatus(status).description
    return problem(status, detail, headers=headers)


def _unexpected_error(error: Exception) -> Response:
    _logger.error("unhandled error in request", exc_info=error)
    return problem(500, "The server failed to handle the request; its log has the details.")
