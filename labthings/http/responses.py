"""JSON responses, whatever the request's Accept header says."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flask import Response

__all__ = ["json_response"]


def json_response(
    value: Any,
    status: int = 200,
    *,
    headers: Mapping[str, str] | None = None,
    mimetype: str = "application/json",
) -> Response:
    """`value` as compact JSON; values are JSON already, so NaN never gets this far."""
    body = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return Response(body, status=status, headers=dict(headers or {}), mimetype=mimetype)
