"""What every view reads from a request: the server's root URL and numbers of seconds."""

from __future__ import annotations

import math
from collections.abc import Mapping

from flask import Request

from labthings.core.errors import ValidationError

__all__ = ["header_values", "parse_seconds", "server_root"]


def server_root(request: Request) -> str:
    """The server's absolute root URL as `request` reached it, ending with '/'.

    Built from the scheme, Host and script root as sent (an IDNA host stays in its ASCII
    form, which is what a URI holds). Werkzeug's `url_root` re-derives and IRI-decodes
    the whole URL on every access, which cost a sixth of an instant POST.
    """
    return f"{request.scheme}://{request.host}{request.script_root}/"


def header_values(request: Request, name: str) -> list[str]:
    """The values sent for header `name`: one string, or none (a WSGI server joins
    repeated headers with commas). Werkzeug's `headers.getlist` walks the whole environ
    for it, a few µs each time."""
    value = request.environ.get("HTTP_" + name.upper().replace("-", "_"))
    return [] if value is None else [value]


def parse_seconds(args: Mapping[str, str], name: str, default: float, maximum: float) -> float:
    """A `?<name>=` number of seconds, capped at `maximum`, or 422 naming it."""
    raw = args.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ValidationError(
            "invalid query parameters", {name: [f"{raw!r} is not a number of seconds >= 0"]}
        )
    return min(value, maximum)
