"""Invocation records as clients see them: with absolute `href` and `links`."""

from __future__ import annotations

from typing import Any

from flask import request

__all__ = ["public_record", "record_href", "server_root"]


def server_root() -> str:
    """The server's absolute root URL as the current request reached it, ending with '/'.

    Built from the scheme, Host and script root as sent (an IDNA host stays in its ASCII
    form, which is what a URI holds). Werkzeug's `url_root` re-derives and IRI-decodes
    the whole URL on every access, which cost a sixth of an instant POST.
    """
    return f"{request.scheme}://{request.host}{request.script_root}/"


def record_href(root: str, task_id: str) -> str:
    """The absolute URL of one invocation; `root` ends with '/'."""
    return f"{root}actions/{task_id}"


def public_record(record: dict[str, Any], root: str) -> dict[str, Any]:
    """`record` (a fresh snapshot, changed in place) with its `href` and `links`."""
    href = record_href(root, record["id"])
    record["href"] = href
    record["links"] = [
        {"rel": "self", "href": href},
        {"rel": "thing", "href": f"{root}{record['thing']}/"},
        {"rel": "invocations", "href": f"{root}{record['thing']}/actions/{record['action']}"},
    ]
    return record
