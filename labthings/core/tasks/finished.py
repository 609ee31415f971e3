"""`FinishedInvocation`: a finished invocation as read from the history.

A finished record never changes, so it answers the questions a TaskThread answers from
the stored record alone; callers take either one as an `Invocation`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from labthings.core.tasks.history import StoredRecord
from labthings.core.tasks.record import ListedRecord, TaskStatus
from labthings.core.tasks.thread import TaskThread

__all__ = ["FinishedInvocation", "Invocation"]


class FinishedInvocation:
    """The stored, final record of an invocation."""

    __slots__ = (
        "action",
        "final_listing",
        "id",
        "seq",
        "status",
        "thing",
        "time_completed",
        "version",
        "_record",
    )

    finished = True

    def __init__(self, stored: StoredRecord) -> None:
        record = stored.record
        self.id: str = record["id"]
        self.thing: str = record["thing"]
        self.action: str = record["action"]
        self.seq = stored.seq
        self.version = stored.version
        self.status = TaskStatus(record["status"])
        completed = record.get("timeCompleted")
        self.time_completed = None if completed is None else datetime.fromisoformat(completed)
        self._record = record
        self.final_listing = ListedRecord.of(record, stored.text)
        """The record as stored, as JSON text."""

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
"""A task as the runner gives it: unfinished (a TaskThread) or finished (either)."""
