"""What action code calls to talk to its own task: progress, data and cancellation.

Every function here is safe outside a task: progress and data updates do nothing, and
the cancellation helpers behave as if nobody asked to cancel.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from labthings.core.errors import TaskCancelled
from labthings.core.tasks.thread import current_task

__all__ = [
    "cancellable_sleep",
    "raise_if_cancelled",
    "update_task_data",
    "update_task_progress",
]


def update_task_progress(
    percent: float | None, message: str | None = None, *, remaining: float | None = None
) -> None:
    """Report progress (0-100), optionally a short status message and the seconds
    `remaining` (without it, the record estimates them from the progress rate); no-op
    outside a task."""
    task = current_task()
    if task is not None:
        task.set_progress(percent, message, remaining=remaining)


def update_task_data(values: Mapping[str, Any]) -> None:
    """Merge JSON values into the task's `data`; no-op outside a task."""
    task = current_task()
    if task is not None:
        task.update_data(values)


def raise_if_cancelled() -> None:
    """Raise `TaskCancelled` if the calling task has been asked to stop."""
    task = current_task()
    if task is not None and task.cancel_requested:
        raise TaskCancelled(f"invocation {task.id} was cancelled")


def cancellable_sleep(seconds: float) -> None:
    """Sleep for `seconds`, waking at once with `TaskCancelled` if the task is cancelled.

    Outside a task this is `time.sleep`.
    """
    task = current_task()
    if task is None:
        time.sleep(max(0.0, seconds))
        return
    if task.cancel_event.wait(max(0.0, seconds)):
        raise TaskCancelled(f"invocation {task.id} was cancelled")
