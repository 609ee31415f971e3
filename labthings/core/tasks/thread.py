"""`TaskThread`: one action invocation running in its own thread, and its record.

Every change of state happens under the task's lock, and `snapshot()` copies the whole
record under that lock, so a reader never sees a half-made change. A finished task
never changes again.
"""

from __future__ import annotations

import enum
import logging
import threading
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from labthings.core.errors import TaskCancelled
from labthings.core.jsonvalues import now_utc, to_json_value
from labthings.core.things.locks import InstrumentLock

__all__ = ["FINISHED", "TaskStatus", "TaskThread", "current_task"]

_logger = logging.getLogger(__name__)
_current: ContextVar[TaskThread | None] = ContextVar("labthings_current_task", default=None)

MESSAGE_LIMIT = 500

TaskListener = Callable[["TaskThread", str, dict[str, Any]], None]
"""Called after each change: (task, kind, data); kind is "update", "log" or "record"."""


class TaskStatus(str, enum.Enum):
    """Where an invocation is in its life; the last three are final."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    ERROR = "error"


FINISHED = frozenset({TaskStatus.COMPLETED, TaskStatus.CANCELLED, TaskStatus.ERROR})


def current_task() -> TaskThread | None:
    """The TaskThread whose action is running the calling code, or None outside a task."""
    return _current.get()


class TaskThread(threading.Thread):
    """Runs one action invocation and records its state, progress, log and result.

    The thread is a daemon: a task that ignores cancellation cannot keep the process
    alive after a graceful shutdown has waited for it.
    """

    def __init__(
        self,
        *,
        thing: str,
        action: str,
        target: Callable[..., Any],
        arguments: Mapping[str, Any],
        input_record: Mapping[str, Any] | None = None,
        dump_output: Callable[[Any], Any] = to_json_value,
        instrument_lock: InstrumentLock | None = None,
        log_limit: int = 1000,
        listener: TaskListener | None = None,
    ) -> None:
        self.id = str(uuid.uuid4())
        super().__init__(name=f"labthings-task-{action}-{self.id[:8]}", daemon=True)
        self.thing = thing
        self.action = action
        self.seq = 0
        """Position in its runner's history (set by the runner; later is larger)."""
        self._target_function = target
        self._arguments = dict(arguments)
        self._dump_output = dump_output
        self._instrument_lock = instrument_lock
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._version = 0
        self._listener = listener
        self._done = threading.Event()
        self._cancel_event = threading.Event()
        self._queued = threading.Event()
        self._status = TaskStatus.PENDING
        self._progress: int | None = None
        self._message: str | None = None
        self._data: dict[str, Any] = {}
        self._input = dict(input_record if input_record is not None else arguments)
        self._output: Any = None
        self._error: dict[str, Any] | None = None
        self._log: deque[dict[str, Any]] = deque(maxlen=log_limit)
        self._time_requested = now_utc()
        self._time_started: datetime | None = None
        self._time_completed: datetime | None = None

    # -- reading ---------------------------------------------------------------------

    @property
    def status(self) -> TaskStatus:
        """The current status."""
        return self._status

    @property
    def finished(self) -> bool:
        """True once the task is completed, cancelled or in error (it never changes again)."""
        return self._status in FINISHED

    @property
    def cancel_requested(self) -> bool:
        """True once cancellation has been asked for."""
        return self._cancel_event.is_set()

    @property
    def time_completed(self) -> datetime | None:
        """When the task finished, or None."""
        return self._time_completed

    @property
    def output(self) -> Any:
        """The JSON value the action returned (None until it completes)."""
        return self._output

    @property
    def version(self) -> int:
        """Increases with every change to the record; the same number means the same record."""
        return self._version

    def wait_for_change(self, version: int, timeout: float) -> int:
        """Wait up to `timeout` for the record to differ from `version`; the version now."""
        with self._changed:
            self._changed.wait_for(lambda: self._version != version, timeout)
            return self._version

    @property
    def holder_description(self) -> str:
        """How error messages name this task when it holds an instrument lock."""
        return f"action {self.action!r} (invocation {self.id})"

    def snapshot(self) -> dict[str, Any]:
        """The invocation record as a new dict of JSON values, consistent at one instant."""
        return self.versioned_snapshot()[1]

    def versioned_snapshot(self) -> tuple[int, dict[str, Any]]:
        """(version, record), taken together: the version names exactly this record."""
        with self._lock:
            return self._version, {
                "id": self.id,
                "action": self.action,
                "thing": self.thing,
                "status": self._status.value,
                "progress": self._progress,
                "message": self._message,
                "cancelRequested": self._cancel_event.is_set(),
                "data": dict(self._data),
                "input": dict(self._input),
                "output": self._output,
                "error": dict(self._error) if self._error is not None else None,
                "log": list(self._log),
                "timeRequested": self._time_requested.isoformat(),
                "timeStarted": _iso(self._time_started),
                "timeCompleted": _iso(self._time_completed),
            }

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the task finishes or `timeout` passes; True if it has finished."""
        return self._done.wait(timeout)

    # -- changing, from inside the action ------------------------------------------

    def set_progress(self, percent: float | None, message: str | None = None) -> None:
        """Record progress (clamped to 0-100, None for unknown) and optionally a message."""
        if percent is not None and (
            isinstance(percent, bool) or not isinstance(percent, (int, float))
        ):
            raise TypeError(f"progress must be a number from 0 to 100, not {percent!r}")
        with self._lock:
            if self._status in FINISHED:
                return
            self._progress = None if percent is None else int(round(min(100, max(0, percent))))
            if message is not None:
                self._message = str(message)[:MESSAGE_LIMIT]
            update = self._changed_locked()
        self._notify("update", update)

    def update_data(self, values: Mapping[str, Any]) -> None:
        """Merge JSON values into the record's `data`; raises TypeError for non-JSON."""
        if not isinstance(values, Mapping):
            raise TypeError("task data must be a mapping of names to JSON values")
        copied = to_json_value(dict(values))
        with self._lock:
            if self._status in FINISHED:
                return
            self._data.update(copied)
            update = self._changed_locked()
        self._notify("update", update)

    def add_log(self, record: logging.LogRecord) -> None:
        """Append a log record to the task's bounded log (the oldest entries drop off)."""
        entry = {
            "levelname": record.levelname,
            "levelno": record.levelno,
            "message": record.getMessage(),
            "created": datetime.fromtimestamp(record.created, tz=now_utc().tzinfo).isoformat(),
            "logger": record.name,
        }
        with self._lock:
            self._log.append(entry)
            self._changed_locked()
        self._notify("log", {"id": self.id, "thing": self.thing, "action": self.action, **entry})

    # -- cancelling --------------------------------------------------------------------

    @property
    def cancel_event(self) -> threading.Event:
        """Set when cancellation is requested; the action should stop soon after."""
        return self._cancel_event

    def cancel(self) -> bool:
        """Ask the task to stop; False (and nothing changes) if it has already finished.

        A pending task is cancelled at once. A running one is told through its cancel
        event and stops when its code next checks (`raise_if_cancelled`,
        `cancellable_sleep`, or a driver between commands).
        """
        with self._lock:
            if self._status in FINISHED:
                return False
            self._cancel_event.set()
            if self._status is TaskStatus.PENDING:
                self._finish_locked(TaskStatus.CANCELLED, message="cancelled before it started")
                update = None
            else:
                self._message = "cancellation requested"
                update = self._changed_locked()
        if self._instrument_lock is not None:
            self._instrument_lock.wake()
        if update is None:
            self._notify("record", self.snapshot())
        else:
            self._notify("update", update)
        return True

    # -- running -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the thread; with an instrument lock, return once it is queued for the lock.

        So tasks take the lock in the order they were started (arrival order), whatever
        order the operating system happens to schedule their threads in.
        """
        super().start()
        if self._instrument_lock is not None:
            self._queued.wait()

    def run(self) -> None:
        token = _current.set(self)
        holds_lock = False
        try:
            if self._instrument_lock is not None:
                holds_lock = self._instrument_lock.acquire(
                    self.holder_description, cancelled=self._cancel_event, queued=self._queued
                )
                if not holds_lock:
                    return  # cancelled while waiting: cancel() already finished the record
            with self._lock:
                if self._status is not TaskStatus.PENDING:
                    return
                self._status = TaskStatus.RUNNING
                self._time_started = now_utc()
                update = self._changed_locked()
            self._notify("update", update)
            outcome = self._call()
            if holds_lock and self._instrument_lock is not None:
                self._instrument_lock.release()
                holds_lock = False
            with self._lock:
                self._finish_locked(*outcome)
            self._notify("record", self.snapshot())
        finally:
            self._queued.set()  # never leave start() waiting
            if holds_lock and self._instrument_lock is not None:
                self._instrument_lock.release()
            _current.reset(token)

    def _call(self) -> tuple[TaskStatus, Any, dict[str, Any] | None, str | None]:
        """Run the action; (status, output, error, message) describing how it ended."""
        try:
            result = self._target_function(**self._arguments)
        except TaskCancelled:
            return TaskStatus.CANCELLED, None, None, "cancelled"
        except BaseException as error:  # noqa: BLE001 - any failure must end the record
            _logger.exception("action %r (invocation %s) failed", self.action, self.id)
            return TaskStatus.ERROR, None, _error_problem(error), "failed"
        try:
            output = self._dump_output(result)
        except Exception as error:  # noqa: BLE001 - a field may raise anything on a bad value
            problem = {
                "type": "urn:labthings:problem:bad-output",
                "title": "The action's return value cannot be sent as JSON",
                "detail": str(error),
            }
            return TaskStatus.ERROR, None, problem, "failed"
        return TaskStatus.COMPLETED, output, None, None

    def _finish_locked(
        self,
        status: TaskStatus,
        output: Any = None,
        error: dict[str, Any] | None = None,
        message: str | None = None,
    ) -> None:
        self._status = status
        self._output = output
        self._error = error
        if message is not None:
            self._message = message
        if status is TaskStatus.COMPLETED and self._progress is not None:
            self._progress = 100
        self._time_completed = now_utc()
        self._changed_locked()
        self._done.set()

    def _changed_locked(self) -> dict[str, Any]:
        """Count a change, wake long-pollers, and return the light view of the record."""
        self._version += 1
        self._changed.notify_all()
        return {
            "id": self.id,
            "thing": self.thing,
            "action": self.action,
            "status": self._status.value,
            "progress": self._progress,
            "message": self._message,
            "cancelRequested": self._cancel_event.is_set(),
            "data": dict(self._data),
        }

    def _notify(self, kind: str, data: dict[str, Any]) -> None:
        """Tell the listener (outside the lock); its failure never harms the task."""
        if self._listener is None:
            return
        try:
            self._listener(self, kind, data)
        except Exception:
            self._listener = None  # so the log record below cannot call it again
            _logger.exception("a task listener failed on %s of %s; detached", kind, self.id)


def _error_problem(error: BaseException) -> dict[str, Any]:
    """An RFC 9457 problem object for an exception an action raised."""
    return {
        "type": "urn:labthings:problem:action-failed",
        "title": "The action failed",
        "detail": f"{type(error).__name__}: {error}",
        "exception": type(error).__name__,
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
