"""`FinishedInvocation`: how history keeps a task once it has finished.

A finished record never changes, so history needs only the record itself, not the
thread, its events, locks and log queue (about 11 KB per task, most of it
synchronisation objects). It answers the same questions a TaskThread does, so callers
take either one as an `Invocation`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from labthings.core.tasks.record import TaskStatus
from labthings.core.tasks.thread import TaskThread

__all__ = ["FinishedInvocation", "Invocation"]


class FinishedInvocation:
    """The frozen record of a finished task."""

    __slots__ = ("action", "id", "seq", "status", "thing", "time_completed", "version", "_record")

    finished = True

    def __init__(self, task: TaskThread, record: dict[str, Any]) -> None:
        """Keep `record`, the final record of `task` (from its "record" notification)."""
        version = task.version  # stable: a finished task never changes again
        self.id = task.id
        self.thing = task.thing
        self.action = task.action
        self.seq = task.seq
        self.version = version
        self.status = TaskStatus(record["status"])
        self.time_completed: datetime | None = task.time_completed
        self._record = record

    def snapshot(self) -> dict[str, Any]:
        """The record as a new dict (nested values are shared and must not be changed)."""
        return dict(self._record)

    def versioned_snapshot(self) -> tuple[int, dict[str, Any]]:
        """(version, record), as TaskThread gives them."""
        return self.version, dict(self._record)

    def wait(self, timeout: float | None = None) -> bool:
        """It has finished: True at once."""
        return True

    def wait_for_change(self, version: int, timeout: float) -> int:
        """It never changes: the version at once."""
        return self.version

    def cancel(self) -> bool:
        """A finished task cannot be cancelled: False, and nothing changes."""
        return False


Invocation = TaskThread | FinishedInvocation
"""A task as history holds it: running (a TaskThread) or finished (either)."""
