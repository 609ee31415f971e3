"""How `labthings call` shows a running invocation: a progress bar on a terminal (tqdm),
plain lines otherwise (a log file, a pipe), each with the message and the time left.
Several invocations followed together have a bar each, one below the other."""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from typing import IO, Any

from labthings.client.invocation import Update

__all__ = ["Progress", "duration", "progress_display"]

_LINE_INTERVAL = 1.0
"""Seconds between plain lines while only the progress or message changes."""


def duration(seconds: float) -> str:
    """`<1 s`, `42 s`, `3 min 05 s`, `2 h 07 min`."""
    if seconds < 1:
        return "<1 s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


class _Remaining:
    """The time left: the server's estimate if it gives one, else one from the rate of
    progress seen here since the first progress report."""

    def __init__(self) -> None:
        self._first: tuple[float, float] | None = None

    def __call__(self, update: Update) -> float | None:
        if update.estimated_remaining is not None:
            return float(update.estimated_remaining)
        progress = update.progress
        if progress is None or update.finished:
            return None
        now = time.monotonic()
        if self._first is None:
            self._first = (now, float(progress))
            return None
        since, start = self._first
        if progress <= start or progress >= 100:
            return None
        return (now - since) * (100 - progress) / (progress - start)


def _status_text(update: Update, remaining: float | None) -> str:
    """The message and the time left: `step 8, 3 s left`."""
    parts = []
    if update.message:
        parts.append(str(update.message))
    if remaining is not None and not update.finished:
        parts.append(f"{duration(remaining)} left")
    return ", ".join(parts)


class Progress(ABC):
    """Shows the updates of one invocation; `close()` ends the display."""

    def __init__(self, label: str, stream: IO[str]) -> None:
        self.label = label
        self.stream = stream
        self._remaining = _Remaining()

    def show(self, update: Update) -> None:
        self._show(update, _status_text(update, self._remaining(update)))

    @abstractmethod
    def _show(self, update: Update, text: str) -> None:
        """Show `update`, whose message and time left `text` says."""

    @abstractmethod
    def close(self) -> None:
        """End the display (a bar keeps its last state on screen)."""


class _Lines(Progress):
    """One line per change of status, and at most one a second for progress."""

    def __init__(self, label: str, stream: IO[str]) -> None:
        super().__init__(label, stream)
        self._last: tuple[str, str] | None = None
        self._last_time = 0.0

    def _show(self, update: Update, text: str) -> None:
        percent = "" if update.progress is None else f" {update.progress:.0f}%"
        line = f"{self.label}: {update.status}{percent}" + (f" ({text})" if text else "")
        now = time.monotonic()
        status_changed = self._last is None or self._last[0] != update.status
        if line == (self._last or ("", ""))[1]:
            return
        if status_changed or update.finished or now - self._last_time >= _LINE_INTERVAL:
            print(line, file=self.stream, flush=True)
            self._last, self._last_time = (update.status, line), now

    def close(self) -> None:
        """Nothing to end: every line is out already."""


class _Bar(Progress):
    """A tqdm bar: `slow.sleep  40%|████      | step 8, 3 s left`, on line `position`
    (counted from 0) of a stack of bars."""

    def __init__(self, label: str, stream: IO[str], position: int = 0) -> None:
        super().__init__(label, stream)
        self._bar = _tqdm_class()(
            position=position,
            total=100,
            desc=label,
            file=stream,
            ncols=_columns(stream),
            bar_format="{desc} {percentage:3.0f}%|{bar}| {status}",
            leave=True,
        )

    def _show(self, update: Update, text: str) -> None:
        progress = 100.0 if update.status == "completed" else float(update.progress or 0)
        status = "" if update.status == "running" else update.status
        shown = (max(0.0, min(100.0, progress)), ", ".join(p for p in (status, text) if p))
        if shown != (self._bar.n, self._bar.status):  # a log line changes nothing here
            self._bar.n, self._bar.status = shown
            self._bar.refresh()

    def close(self) -> None:
        self._bar.close()


def _tqdm_class() -> Any:
    """tqdm with a `{status}` field for the bar format (tqdm's own `{postfix}` starts
    with a comma). Imported only when a bar is shown."""
    from tqdm import tqdm

    class StatusBar(tqdm):
        status = ""

        @property
        def format_dict(self) -> dict[str, Any]:
            return {**super().format_dict, "status": self.status}

    return StatusBar


def _columns(stream: IO[str]) -> int:
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError, AttributeError):
        columns = 0
    return min(columns or 80, 120)


def progress_display(label: str, stream: IO[str], position: int = 0) -> Progress:
    """A bar if `stream` is a terminal (on line `position` of a stack of bars), else
    plain lines (each starting with `label`)."""
    try:
        terminal = stream.isatty()
    except (AttributeError, ValueError):
        terminal = False
    return _Bar(label, stream, position) if terminal else _Lines(label, stream)
