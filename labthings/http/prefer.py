"""`Prefer` (RFC 7240) on a POST: how long to wait for the result before answering.

The `prefer` feature: `wait=N` (capped) or `respond-async`, and `Preference-Applied` in
the reply saying which was honoured.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from labthings.core.describe.operations import Target

__all__ = ["Preferences", "document"]


@dataclass(frozen=True)
class Preferences:
    """What a `Prefer` header asks of a POST: how long to wait for the result."""

    wait: float
    applied: str | None

    @classmethod
    def parse(cls, headers: Iterable[str], default_wait: float, max_wait: float) -> Preferences:
        """`wait=N` (capped at `max_wait`) wins; else `respond-async` means no wait.

        Preferences that cannot be understood are ignored, as the RFC asks.
        """
        tokens: dict[str, str] = {}
        for header in headers:
            for item in header.split(","):
                name, _, value = item.split(";")[0].strip().partition("=")
                if name:
                    tokens.setdefault(name.strip().lower(), value.strip().strip('"'))
        if "wait" in tokens:
            try:
                asked = float(tokens["wait"])
            except ValueError:
                asked = math.nan
            if math.isfinite(asked) and asked >= 0:
                wait = min(asked, max_wait)
                return cls(wait, f"wait={_seconds(wait)}")
        if "respond-async" in tokens:
            return cls(0.0, "respond-async")
        return cls(min(default_wait, max_wait), None)


def _seconds(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"


def document(operation: dict[str, Any], target: Target) -> None:
    """The `Prefer` request header and `Preference-Applied` on the 201."""
    operation.setdefault("parameters", []).append(
        {
            "name": "Prefer",
            "in": "header",
            "description": "`wait=N` to wait up to N s for the result, or `respond-async`.",
            "schema": {"type": "string"},
        }
    )
    operation["responses"]["201"]["headers"]["Preference-Applied"] = {
        "description": "The preference honoured, if any.",
        "schema": {"type": "string"},
    }
