"""ETags: a record's names its version, a property's hashes its value; 304 when matched."""

from __future__ import annotations

import hashlib

from flask import Response, request

from labthings.core.tasks.finished import Invocation

__all__ = ["not_modified_if_matching", "record_etag", "version_in_etag", "with_content_etag"]


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
    response.set_etag(digest)
    return response


def not_modified_if_matching(response: Response) -> Response:
    """A bodiless 304 (keeping the ETag) if the request's If-None-Match names it."""
    etag, _ = response.get_etag()
    if etag is not None and request.if_none_match.contains(etag):
        not_modified = Response(status=304)
        not_modified.set_etag(etag)
        return not_modified
    return response
