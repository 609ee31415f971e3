"""Progress, status message and time remaining, as an invocation record holds them.

`report` is the one way a record's progress changes, whether an action calls
`update_task_progress` or a remote job's check returns a `RemoteJob`; it checks the
values first, so a bad one changes nothing.

Time remaining (`estimatedRemaining`, seconds) is the action's own figure when it gives
one, counted down by the time passed since it gave it; otherwise an estimate from the
progress rate over the recent reports, once they span `MIN_SPAN` seconds and progress
has grown. The figure is worked out when progress is reported and kept until the next
report, so one version of a record always reads the same (its ETag names it).
"""

from __future__ import annotations

import math
import time
from collections import deque
from typing import TYPE_CHECKING

from labthings.core.jsonvalues import clean_text

if TYPE_CHECKING:
    from labthings.core.tasks.record import TaskState

__all__ = ["MESSAGE_LIMIT", "MIN_SPAN", "RemainingEstimate", "checked_percent", "report"]

MESSAGE_LIMIT = 500
"""Characters of a status message kept; the rest is cut."""

MIN_SPAN = 1.0
"""Seconds that the progress reports of an estimate must span at least."""

_POINTS = 20
"""Progress reports the rate is measured over (the most recent ones)."""


def checked_percent(percent: float | None) -> float | None:
    """`percent` as a float clamped to 0-100 (None: unknown); TypeError if not a number."""
    if percent is None:
        return None
    if isinstance(percent, bool) or not isinstance(percent, (int, float)):
        raise TypeError(f"progress must be a number from 0 to 100, not {percent!r}")
    if math.isnan(percent):
        raise TypeError("progress must be a number from 0 to 100, not NaN")
    return float(min(100.0, max(0.0, percent)))


def checked_remaining(seconds: float | None) -> float | None:
    """`seconds` as a float >= 0 (None: not given); TypeError or ValueError if it is not."""
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"remaining must be a number of seconds, not {seconds!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"remaining must be a finite number of seconds >= 0, not {seconds!r}")
    return float(seconds)


class RemainingEstimate:
    """The seconds an invocation has left, as of its last progress report."""

    __slots__ = ("_given", "_points", "seconds")

    def __init__(self, seconds: float | None = None, now: float | None = None) -> None:
        """Start empty, or (a resumed record) from `seconds` given at `now`."""
        self.seconds: float | None = seconds
        """The figure in the record: None until there is one."""
        self._given: tuple[float, float] | None = None  # (seconds, when)
        if seconds is not None:
            self._given = (seconds, time.time() if now is None else now)
        self._points: deque[tuple[float, float]] = deque(maxlen=_POINTS)  # (when, percent)

    def note(self, percent: float | None, remaining: float | None, now: float) -> None:
        """Take a progress report made at `now` (seconds since the epoch)."""
        if remaining is not None:
            self._given = (remaining, now)
        if percent is None:
            self._points.clear()  # unknown progress: the rate starts again
        else:
            if self._points and percent < self._points[-1][1]:
                self._points.clear()  # progress went back (a new phase): so does the rate
            self._points.append((now, percent))
        self.seconds = self._figure(now)

    def _figure(self, now: float) -> float | None:
        if self._given is not None:
            seconds, when = self._given
            return max(0.0, seconds - (now - when))
        if len(self._points) < 2:
            return None
        (start, first), (end, last) = self._points[0], self._points[-1]
        if end - start < MIN_SPAN or last <= first or last <= 0:
            return None
        return round((100.0 - last) * (end - start) / (last - first), 3)


def report(
    state: TaskState,
    percent: float | None,
    message: str | None,
    remaining: float | None,
    now: float,
) -> None:
    """Set the progress (checked as `checked_percent` does), the message if one is given,
    and the time remaining of `state`."""
    value = checked_percent(percent)
    given = checked_remaining(remaining)
    state.progress = None if value is None else int(round(value))
    if message is not None:
        state.message = clean_text(str(message)[:MESSAGE_LIMIT])
    state.remaining.note(value, given, now)
