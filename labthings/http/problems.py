"""Every error as an RFC 9457 problem: the one place that maps exceptions to HTTP."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from flask import Flask, Response
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from devices.errors import DeviceError, DeviceTimeoutError, DisconnectedError
from labthings.core.errors import (
    ConflictError,
    LabThingsError,
    MethodNotAllowedError,
    NotFoundError,
    ShuttingDownError,
    ValidationError,
)
from labthings.http.responses import json_response

__all__ = ["PROBLEM_MIMETYPE", "problem", "register_error_handlers"]

PROBLEM_MIMETYPE = "application/problem+json"
_logger = logging.getLogger(__name__)

_STATUS_OF: list[tuple[type[LabThingsError], int]] = [
    (NotFoundError, 404),
    (MethodNotAllowedError, 405),
    (ConflictError, 409),
    (ValidationError, 422),
    (ShuttingDownError, 503),
]


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


_DEVICE_STATUS: list[tuple[type[DeviceError], int]] = [
    (DisconnectedError, 503),
    (DeviceTimeoutError, 504),
    (DeviceError, 502),
]


def register_error_handlers(app: Flask) -> None:
    """Make every error of `app` a problem+json response."""
    app.register_error_handler(LabThingsError, _labthings_error)
    app.register_error_handler(DeviceError, _device_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)


def _labthings_error(error: LabThingsError) -> Response:
    status = next((code for kind, code in _STATUS_OF if isinstance(error, kind)), None)
    if status is None:
        return _unexpected_error(error)
    if isinstance(error, ValidationError):
        return problem(status, str(error), errors=error.errors)
    if isinstance(error, MethodNotAllowedError):
        return problem(status, str(error), headers={"Allow": ", ".join(error.allowed)})
    return problem(status, str(error))


def _device_error(error: DeviceError) -> Response:
    """An instrument failed while serving a request (a property read, say): the gateway
    codes say so (503 disconnected, 504 no reply, 502 a bad or error reply), and the
    message names the port and command, which is what a lab user needs to act."""
    status = next(code for kind, code in _DEVICE_STATUS if isinstance(error, kind))
    _logger.warning("instrument error in request: %s", error)
    headers = {"Retry-After": "1"} if status == 503 else None
    return problem(status, str(error), headers=headers)


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
