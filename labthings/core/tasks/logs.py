"""Route log records made inside a task into that task's log.

Whatever an action logs at INFO or above, through any logger, lands in its task's log,
even when the root logger is at WARNING (Python's default, which is how peers lost the
INFO logs of actions). This needs two process-wide hooks on `logging.Logger`, installed
once per process by `install()` (never per server instance, so nothing accumulates):

* `isEnabledFor` also says yes for INFO and above while a task is running, so the record
  is made at all (`logging.disable()` is still obeyed);
* `handle` gives the record to the current task, then passes it on to the usual handlers
  only if the logger's own level would have let it through, so the rest of the
  application's logging behaves exactly as configured.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from labthings.core.tasks.thread import current_task

__all__ = ["TASK_LOG_LEVEL", "install"]

TASK_LOG_LEVEL = logging.INFO

_install_lock = threading.Lock()
_installed = False


def install() -> None:
    """Install the task-log hooks (idempotent and thread-safe)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        original_is_enabled: Callable[[logging.Logger, int], bool] = logging.Logger.isEnabledFor
        original_handle: Callable[[logging.Logger, logging.LogRecord], None] = logging.Logger.handle

        def is_enabled_for(self: logging.Logger, level: int) -> bool:
            if original_is_enabled(self, level):
                return True
            return (
                level >= TASK_LOG_LEVEL
                and not self.disabled
                and self.manager.disable < level
                and current_task() is not None
            )

        def handle(self: logging.Logger, record: logging.LogRecord) -> None:
            task = current_task()
            if task is None:
                original_handle(self, record)
                return
            if record.levelno >= TASK_LOG_LEVEL and not self.disabled:
                task.add_log(record)
            if original_is_enabled(self, record.levelno):
                original_handle(self, record)

        logging.Logger.isEnabledFor = is_enabled_for  # type: ignore[method-assign]
        logging.Logger.handle = handle  # type: ignore[method-assign]
        _installed = True
