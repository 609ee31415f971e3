"""Route log records made inside a task into that task's log, with one logging handler.

`install()` attaches a single `TaskLogHandler` to the root logger (once per process,
however many servers there are). It copies every record at INFO or above that is made
while a task runs, from any logger that propagates to the root, into that task's log.
It patches nothing and changes no level: records below a logger's effective level are
never made, so the root logger (or the loggers actions use) must be at INFO or lower
for INFO lines to reach task logs. `labthings serve` sets that up; an application that
serves `create_app()` itself sets it in its own logging configuration.
"""

from __future__ import annotations

import logging
import threading

from labthings.core.tasks.thread import current_task

__all__ = ["TASK_LOG_LEVEL", "TaskLogHandler", "install", "task_logs_complete"]

TASK_LOG_LEVEL = logging.INFO

_install_lock = threading.Lock()


class TaskLogHandler(logging.Handler):
    """Gives each record made inside a task, at INFO or above, to that task's log.

    Outside tasks it handles nothing, except that it stands in for Python's last-resort
    handler (warnings to stderr) when no other handler would see the record, so that
    attaching it leaves an unconfigured program's console output as it was.
    """

    def __init__(self) -> None:
        super().__init__(level=logging.NOTSET)

    def handle(self, record: logging.LogRecord) -> bool:
        """Emit without the handler's lock: tasks lock their own logs, and holding a
        lock shared by every logging thread while a task tells its listeners could
        deadlock with a thread that logs while holding that task."""
        if self.filter(record):
            self.emit(record)
            return True
        return False

    def emit(self, record: logging.LogRecord) -> None:
        task = current_task()
        if task is not None:
            if record.levelno >= TASK_LOG_LEVEL:
                try:
                    task.add_log(record)
                except Exception:  # e.g. a message whose arguments do not fit its format
                    self.handleError(record)
            return
        last_resort = logging.lastResort
        if (
            last_resort is not None
            and record.levelno >= last_resort.level
            and not self._others_handle(record)
        ):
            last_resort.handle(record)

    def _others_handle(self, record: logging.LogRecord) -> bool:
        """True if a handler other than this one is on the record's way to the root."""
        logger: logging.Logger | None = logging.getLogger(record.name)
        while logger is not None:
            if any(handler is not self for handler in logger.handlers):
                return True
            logger = logger.parent if logger.propagate else None
        return False


_HANDLER = TaskLogHandler()


def install() -> None:
    """Attach the task-log handler to the root logger (idempotent and thread-safe)."""
    root = logging.getLogger()
    with _install_lock:
        if _HANDLER not in root.handlers:
            root.addHandler(_HANDLER)


def task_logs_complete() -> bool:
    """True if INFO records reach task logs: the root logger's level lets them be made."""
    return logging.getLogger().getEffectiveLevel() <= TASK_LOG_LEVEL
