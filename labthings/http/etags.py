"""ETags: a record's names its version, a property's hashes its value; 304 when matched.

The `etag` feature: behaviour here, and `document` adds it to an operation's OpenAPI.
"""

from __future__ import annotations

import hashlib
from typing import Any

from flask import Response, request

from labthings.core.describe.operations import Target
from labthings.core.tasks.finished import Invocation

__all__ = [
    "document",
    "not_modified_if_matching",
    "record_etag",
    "version_in_etag",
    "with_content_etag",
]


def record_etag(task: Invocation, version: int) -> str:
    """The strong ETag of one version of an invocation record."""
    return f'"{task.id}.{version}"'


def version_in_etag(task: Invocation, tag: str) -> int | None:
    """The version an (unquoted) ETag of `task` names, or None if it is not one of its."""
    prefix, _, number = tag.rpartition(".")
    return int(number) if prefix == task.id and number.isdigit() else None


def with_content_etag(response: Response) -> Response:
    """Give `response` a strong ETag computed from its body."""
    digest = hashlib.blake2b(response.get_data(), digest_size=12).hexdigest()
    response.headers["ETag"] = f'"{digest}"'  # hex needs no quoting rules
    return response


def not_modified_if_matching(response: Response) -> Response:
    """A bodiless 304 (keeping the ETag) if the request's If-None-Match names it, weak
    (`W/"..."`) or strong: If-None-Match compares weakly (RFC 9110 §13.1.2)."""
    if "HTTP_IF_NONE_MATCH" not in request.environ:  # most requests: nothing to parse
        return response
    etag, _ = response.get_etag()
    if etag is not None and request.if_none_match.contains_weak(etag):
        not_modified = Response(status=304)
        not_modified.set_etag(etag)
        return not_modified
    return response


def document(operation: dict[str, Any], target: Target) -> None:
    """An `ETag` on the 200 response, `If-None-Match`, and the 304 it can bring."""
    operation.setdefault("parameters", []).append(
        {
            "name": "If-None-Match",
            "in": "header",
            "description": "The ETag of the representation you have: 304 if it is still current.",
            "schema": {"type": "string"},
        }
    )
    ok = operation["responses"]["200"]
    ok.setdefault("headers", {})["ETag"] = {
        "description": "Names this representation.",
        "schema": {"type": "string"},
    }
    operation["responses"]["304"] = {"description": "Unchanged from the ETag in If-None-Match."}
