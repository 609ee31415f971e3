"""JSON request bodies: the `json-body` feature (parsing, and its documented errors)."""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Request
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

from labthings.core.describe.operations import Target, problem_response
from labthings.core.errors import ValidationError
from labthings.core.jsonvalues import is_text, lone_surrogate_at, nested_deeper_than

__all__ = ["NO_BODY", "document", "json_body"]

NO_BODY: Any = object()
"""What `json_body` returns for an empty body."""


def json_body(request: Request, max_depth: int, name: str = "_schema") -> Any:
    """The request's JSON body, or `NO_BODY` when there is none.

    Raises 413 (too large, from Flask's MAX_CONTENT_LENGTH), 415 (not JSON), 400
    (malformed JSON, or arrays and objects nested deeper than `max_depth`) and 422 (a
    string holding a lone surrogate, which is not text and could never be sent back;
    the error names its place, under `name` for the body itself), each with a message
    saying what to send instead.
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
        text = data.decode(json.detect_encoding(data), "surrogatepass")
        value = _DECODER.decode(text)
    except RecursionError:
        raise BadRequest(_too_deep(max_depth)) from None
    except (UnicodeDecodeError, ValueError) as error:
        raise BadRequest(f"the body is not valid JSON: {error}") from None
    # Both checks walk the value only when the body says they might find something.
    if data.count(b"[") + data.count(b"{") > max_depth and nested_deeper_than(value, max_depth):
        raise BadRequest(_too_deep(max_depth))
    if not is_text(text) or _SURROGATE_ESCAPE.search(text):
        path = lone_surrogate_at(value)
        if path is not None:
            raise ValidationError(
                "the body holds a string that is not Unicode text",
                {path or name: ["a lone surrogate (\\ud800-\\udfff) is not a character"]},
            )
    return value


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
"""A `\\uD800`-`\\uDFFF` escape: what puts a surrogate in the value of an ASCII body. A
body that is not ASCII can hold one as it is (the bytes of a UTF-8-encoded surrogate,
which Python's decoder lets through), and is then not encodable as UTF-8 once decoded."""


def _refuse_constant(name: str) -> Any:
    """Python's parser takes NaN and Infinity; JSON has neither."""
    raise ValueError(f"{name} is not a JSON value")


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)
"""Made once: json.loads with options builds a decoder on every call."""


def _too_deep(max_depth: int) -> str:
    return f"the body nests arrays and objects deeper than {max_depth} levels"


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
