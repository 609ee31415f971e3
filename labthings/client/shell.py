"""What the client's commands share: values as written on the command line, and results
printed on stdout."""

from __future__ import annotations

import json
import sys
from typing import Any

from labthings.client.exits import UsageError

__all__ = [
    "CANCEL_WAIT",
    "EXIT_CANCELLED",
    "EXIT_COMPLETED",
    "action_arguments",
    "parse_value",
    "print_result",
]

EXIT_COMPLETED = 0
EXIT_CANCELLED = 3
CANCEL_WAIT = 10.0
"""How long `call` waits, after Ctrl-C, for the server to say the task has stopped."""


def parse_value(text: str) -> Any:
    """A command-line value: JSON if it parses as JSON (`3`, `true`, `[1, 2]`,
    `"quoted"`), else the text itself (`hello`). `NaN` and `Infinity` stay text."""

    def refuse(constant: str) -> Any:
        raise ValueError(constant)

    try:
        return json.loads(text, parse_constant=refuse)
    except ValueError:
        return text


def action_arguments(pairs: list[str]) -> dict[str, Any]:
    """`NAME=VALUE` pairs as a dict of values (`parse_value`)."""
    arguments = {}
    for pair in pairs:
        name, separator, text = pair.partition("=")
        if not separator or not name:
            raise UsageError(f"action arguments are NAME=VALUE, not {pair!r}")
        arguments[name] = parse_value(text)
    return arguments


def print_result(value: Any, as_json: bool) -> None:
    """A result on stdout: JSON (one line with --json, indented otherwise); for people a
    string as it is, and bytes (a file output) as they are."""
    if isinstance(value, bytes):
        sys.stdout.flush()
        sys.stdout.buffer.write(value)
        sys.stdout.buffer.flush()
    elif isinstance(value, str) and not as_json:
        print(value, flush=True)
    else:
        print(json.dumps(value, indent=None if as_json else 2), flush=True)
