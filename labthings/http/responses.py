"""JSON responses, whatever the request's Accept header says."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Response

from labthings.core.jsonvalues import json_text

__all__ = ["json_response"]


def json_response(
    value: Any,
    status: int = 200,
    *,
    headers: Mapping[str, str] | None = None,
    mimetype: str = "application/json",
) -> Response:
    """`value` as compact, strict JSON (never NaN or infinity, always valid UTF-8)."""
    body = json_text(value)
    return Response(body, status=status, headers=dict(headers or {}), mimetype=mimetype)
