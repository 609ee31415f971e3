"""What a worker tells the server about a compute action, defined once for both sides.

A worker stores a `WorkerReport` as the Celery task's custom `PROGRESS` state while the
action runs, and puts the last one in its result (completed) or in `ComputeFailed`
(error), so that the lines logged just before the end are not lost. The server's check
`apply`s each report to the invocation: new log lines into its log, progress, message,
time remaining and data into its record.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, TypedDict

from labthings.core.jsonvalues import to_json_value
from labthings.core.tasks.progress import report as report_progress
from labthings.core.tasks.record import TaskState, TaskStatus
from labthings.core.tasks.thread import TaskThread

__all__ = ["LOG_SENT", "PROGRESS", "ComputeFailed", "ReportSeen", "WorkerReport", "apply"]

PROGRESS = "PROGRESS"
"""The Celery state of a compute action that a worker runs (a custom state)."""

LOG_SENT = 200
"""Log lines a report carries at most (the latest); older ones not yet copied by the
server's check are counted as missed."""


class WorkerReport(TypedDict):
    """A compute action as its worker sees it; JSON."""

    progress: int | None
    message: str | None
    remaining: float | None
    """Seconds left, as the worker's record estimated them at its last progress report."""
    data: dict[str, Any]
    log: list[dict[str, Any]]
    """The latest log entries (at most `LOG_SENT`), as task logs hold them."""
    logged: int
    """Log entries made in all, so the server knows which of `log` are new."""
    beat: int
    """Grows with each report: while it changes, the worker is alive."""
    started: float
    """When the worker started the action (seconds since the epoch)."""
    worker: str
    pid: int


class ComputeFailed(Exception):  # noqa: N818 - named for what it carries to the server
    """Raised by the worker's task to end it in Celery's FAILURE state, carrying the last
    report with the `problem` of the invocation (and `cancelled`: it stopped itself)."""

    def __init__(self, report: Mapping[str, Any]) -> None:
        super().__init__(dict(report))
        self.report: dict[str, Any] = dict(report)

    def __str__(self) -> str:
        return str((self.report.get("problem") or {}).get("detail", ""))

    def __repr__(self) -> str:
        return f"ComputeFailed({str(self)!r})"


class ReportSeen(TypedDict):
    """What the server has applied of a job's reports (kept in the job's state)."""

    logged: int
    shown: list[Any]
    """The (progress, message, remaining) last applied."""


def apply(
    task: TaskThread,
    report: Mapping[str, Any],
    seen: ReportSeen,
    *,
    now: float,
    status: TaskStatus | None = TaskStatus.RUNNING,
) -> None:
    """Copy into `task`'s record what is new in `report` since `seen` (updated): new log
    lines, then progress, message, time remaining and data, and `status` (None: leave
    it) with the worker's start time."""
    logged = int(report.get("logged", 0))
    new = logged - seen["logged"]
    if new > 0:
        kept = list(report.get("log", []))[-new:]
        if new > len(kept):
            task.add_log(_missed(new - len(kept)))
        for entry in kept:
            task.add_log(_log_record(entry))
        seen["logged"] = logged
    shown = [report.get("progress"), report.get("message"), report.get("remaining")]
    changed = shown != seen["shown"]
    seen["shown"] = shown
    data = to_json_value(dict(report.get("data") or {}))
    started = report.get("started")

    def change(state: TaskState) -> None:
        if status is TaskStatus.RUNNING and state.status is TaskStatus.PENDING:
            state.message = None  # no longer "queued"
        if status is not None:
            state.status = status
        if status is TaskStatus.RUNNING and isinstance(started, (int, float)):
            state.time_started = datetime.fromtimestamp(started, tz=timezone.utc)
        if changed:
            report_progress(state, shown[0], shown[1], shown[2], now)
        state.data.update(data)

    task.amend(change)


def _log_record(entry: Mapping[str, Any]) -> logging.LogRecord:
    """A log record that makes `entry` again in the server's task log."""
    record = logging.makeLogRecord(
        {
            "name": str(entry.get("logger", "worker")),
            "levelno": int(entry.get("levelno", logging.INFO)),
            "levelname": str(entry.get("levelname", "INFO")),
            "msg": str(entry.get("message", "")),
        }
    )
    try:
        record.created = datetime.fromisoformat(str(entry["created"])).timestamp()
    except (KeyError, ValueError):
        pass  # keep the time it arrived
    return record


def _missed(count: int) -> logging.LogRecord:
    """The log line that says `count` lines of the worker were not copied."""
    message = f"{count} log line(s) of the worker were missed (logged faster than read)"
    return logging.makeLogRecord(
        {"name": __name__, "levelno": logging.WARNING, "levelname": "WARNING", "msg": message}
    )
