"""Invocation records as clients see them: with absolute `href` and `links`."""

from __future__ import annotations

from typing import Any

from flask import request

__all__ = ["public_record", "record_href", "server_root"]


def server_root() -> str:
    """The server's absolute root URL as the current request reached it, ending with '/'.

    Werkzeug rebuilds `url_root` (with IDNA decoding) on every access, which showed up
    at a fifth of the time of an instant POST; it is worked out once per request.
    """
    environ = request.environ
    root = environ.get("labthings.root")
    if root is None:
        root = environ["labthings.root"] = request.url_root
    return str(root)


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
