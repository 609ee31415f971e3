"""Progress reported by a program: a status file it rewrites, or lines it prints.

Both are read defensively: a program may be half-way through rewriting its status file,
or print a number that is no percentage, and neither may fail the task.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

__all__ = ["Progress", "match_percent", "parse_percent", "read_status_file"]

_STATUS_LIMIT = 4096  # bytes of a status file read: its first line is all that counts

Progress = tuple[float, str | None]
"""(percent 0-100, message or None)."""


def parse_percent(text: str) -> float | None:
    """`text` as a percentage if it is a finite number from 0 to 100, else None."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and 0 <= value <= 100 else None


def read_status_file(path: Path) -> Progress | None:
    """The progress in a status file: its first line is a number from 0 to 100, which
    may be followed by a space and a short message ("42 fitting peak 3").

    None while the file is missing, unreadable, empty or not (yet) of that form, e.g.
    caught half-written: the caller keeps the last progress it had.
    """
    try:
        with path.open("rb") as file:
            head = file.read(_STATUS_LIMIT)
    except OSError:
        return None
    text = head.decode("utf-8", "replace")
    first = text.splitlines()[0] if text.strip() else ""
    number, _, message = first.strip().partition(" ")
    percent = parse_percent(number.rstrip("%"))
    if percent is None:
        return None
    return percent, (message.strip() or None)


def match_percent(pattern: re.Pattern[str], line: str) -> float | None:
    """The percentage in `line` by `pattern`'s first group (or whole match), or None."""
    match = pattern.search(line)
    if match is None:
        return None
    return parse_percent(match.group(1) if pattern.groups else match.group(0))
