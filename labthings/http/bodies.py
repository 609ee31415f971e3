"""JSON request bodies: the `json-body` feature (parsing, and its documented errors)."""

from __future__ import annotations

import json
from typing import Any

from flask import Request
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

from labthings.core.describe.operations import Target, problem_response

__all__ = ["NO_BODY", "document", "json_body"]

NO_BODY: Any = object()
"""What `json_body` returns for an empty body."""


def json_body(request: Request) -> Any:
    """The request's JSON body, or `NO_BODY` when there is none.

    Raises 413 (too large, from Flask's MAX_CONTENT_LENGTH), 415 (not JSON) and 400
    (malformed JSON) with a message saying what to send instead.
    """
    data = request.get_data(cache=True)
    if not data:
        return NO_BODY
    mimetype = request.mimetype
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        shown = mimetype or "no Content-Type"
        raise UnsupportedMediaType(
            f"the body must be JSON sent with Content-Type: application/json (got {shown})"
        )
    try:
        return json.loads(data)
    except (UnicodeDecodeError, ValueError) as error:
        raise BadRequest(f"the body is not valid JSON: {error}") from None


def document(operation: dict[str, Any], target: Target) -> None:
    """The errors a JSON body can bring: 400, 413, 415 and 422."""
    operation["responses"].update(
        {
            "400": problem_response("The body is not valid JSON."),
            "413": problem_response("The body is larger than the server accepts."),
            "415": problem_response("The body is not JSON."),
            "422": problem_response(
                "The body does not match the schema; `errors` names each field.", True
            ),
        }
    )
