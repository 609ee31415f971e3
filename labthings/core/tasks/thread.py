"""`TaskThread`: one action invocation, run on a thread of its own, and its record.

Every change happens under the task's lock, and a snapshot copies the whole record under
that lock, so a reader never sees a half-made change. The listener is told of changes in
the order they happened. A finished task never changes again.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from labthings.core.errors import (
    ActionFailed,
    RemoteActionFailed,
    ServerBusyError,
    TaskCancelled,
    ValidationError,
)
from labthings.core.jsonvalues import clean_text, json_text, now_utc, to_json_value
from labthings.core.tasks.progress import checked_percent, checked_remaining, report
from labthings.core.tasks.record import (
    FINISHED,
    ListedRecord,
    TaskState,
    TaskStatus,
    live_update,
    log_entry,
    snapshot,
)
from labthings.core.tasks.workers import WORKERS
from labthings.core.things.locks import InstrumentLock, Reservation

if TYPE_CHECKING:
    from labthings.core.programs.folders import WorkFolders

__all__ = [
    "INPUT_REFUSED",
    "Handoff",
    "Outcome",
    "TaskListener",
    "TaskThread",
    "acting_as",
    "current_task",
]

_logger = logging.getLogger(__name__)
_current: ContextVar[TaskThread | None] = ContextVar("labthings_current_task", default=None)

CANCEL_MESSAGE = "cancellation requested"
INPUT_REFUSED = "urn:labthings:problem:input-refused"
"""The problem type of an invocation whose action raised `ValidationError`."""

TaskListener = Callable[["TaskThread", str, dict[str, Any]], None]
"""Told of each change, in order: (task, kind, data). `kind` is "update" (data: the
light view), "log" (a new log entry) or "record" (the final record, exactly once)."""

Persist = Callable[["TaskThread", dict[str, Any]], tuple[dict[str, Any], str]]
"""Stores a task's final record before anyone is told of it; returns the record as
stored (a large output may be replaced by a link to a blob) and its JSON text."""

Outcome = tuple[TaskStatus, Any, "dict[str, Any] | None", "str | None"]
"""How a run ended: (status, output, error problem, message)."""

Handoff = Callable[["TaskThread", Any], bool]
"""Given what the action returned, before it is taken as the output: True if it takes the
invocation over (a remote job), which then stays unfinished after the thread ends, until
the taker calls `finish`."""


def current_task() -> TaskThread | None:
    """The TaskThread whose action is running the calling code, or None outside a task."""
    return _current.get()


@contextmanager
def acting_as(task: TaskThread) -> Iterator[None]:
    """Within the block, `current_task()` is `task` (for work done for it in another
    thread: a remote job's checks), so its progress, data and log land in its record."""
    token = _current.set(task)
    try:
        yield
    finally:
        _current.reset(token)


class TaskThread:
    """Runs one action invocation and records its state, progress, log and result.

    Its body runs on an OS thread that no other task uses meanwhile: a reused worker
    of `WORKERS`, or a new one (a daemon: a task that ignores cancellation cannot keep
    the process alive after a graceful shutdown has waited for it). `start`, `join`
    and `is_alive` work as a thread's do.
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
        requested_by: str | None = None,
        persist: Persist = lambda task, record: (record, json_text(record)),
        work_folders: WorkFolders | None = None,
        handoff: Handoff | None = None,
        stays_pending: bool = False,
    ) -> None:
        task_id = str(uuid.uuid4())
        self.name = f"labthings-task-{action}-{task_id[:8]}"
        """The name its thread takes while running it (logs and debuggers show it)."""
        self.id = task_id
        self.thing = thing
        self.action = action
        self.seq = 0
        """Position in its runner's history (set by the runner; later is larger)."""
        self._target_function = target
        self._arguments = dict(arguments)
        self._dump_output = dump_output
        self._instrument_lock = instrument_lock
        self._state = TaskState(
            id=task_id,
            thing=thing,
            action=action,
            input=dict(input_record if input_record is not None else arguments),
            log=deque(maxlen=log_limit),
            requested_by=requested_by,
        )
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        # Held from a change until its listener call returns, so that listeners see
        # changes in the order they were made. Reentrant: a listener's own failure is
        # logged, and that log record may come back to this task.
        self._telling = threading.RLock()
        self._in_listener = False
        self._version = 0
        self._listener = listener
        self._persist = persist
        self._handoff = handoff
        self._stays_pending = stays_pending
        self._done = threading.Event()
        self._final: ListedRecord | None = None
        self._launched = False
        self._body_ended = threading.Event()  # its thread is done with it
        self._cancel_event = threading.Event()
        self._message_before_cancel: str | None = None
        self._reservation = Reservation(self.holder_description, self._on_turn)
        self._holds_lock = False
        self.work_folders = work_folders
        """Where this invocation's external programs get their working folder (None: a
        temporary one; see `labthings.core.programs`)."""

    @classmethod
    def resumed(cls, state: TaskState, version: int, **options: Any) -> TaskThread:
        """An invocation that was handed off in an earlier run, rebuilt from its `state`
        and record `version` (a remote job after a restart). Its thread is never started:
        its taker finishes it. `options` are those of the constructor after `arguments`."""
        task = cls(thing=state.thing, action=state.action, target=_not_run, arguments={}, **options)
        task.id = state.id
        task._state = state
        task._version = version
        return task

    # -- reading ---------------------------------------------------------------------

    @property
    def status(self) -> TaskStatus:
        """The current status."""
        return self._state.status

    @property
    def finished(self) -> bool:
        """True once the task is completed, cancelled or in error (it never changes again)."""
        return self._state.status in FINISHED

    @property
    def cancel_requested(self) -> bool:
        """True once cancellation has been asked for."""
        return self._cancel_event.is_set()

    @property
    def time_completed(self) -> datetime | None:
        """When the task finished, or None."""
        return self._state.time_completed

    @property
    def output(self) -> Any:
        """The JSON value the action returned (None until it completes)."""
        return self._state.output

    @property
    def final_listing(self) -> ListedRecord | None:
        """Its final record as stored, as JSON text, once it has ended (None before, or
        if it could not be stored). Its `version` is final by then."""
        return self._final

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
            return self._version, snapshot(self._state)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the task finishes or `timeout` passes; True if it has finished."""
        return self._done.wait(timeout)

    def join(self, timeout: float | None = None) -> None:
        """Block until its thread is done with it (it finished, or handed its work off
        as a remote job) or `timeout` passes; for a task never launched, until it
        finishes."""
        if self._launched:
            self._body_ended.wait(timeout)
        else:
            self._done.wait(timeout)

    def is_alive(self) -> bool:
        """True while the task's body runs on its thread."""
        return self._launched and not self._body_ended.is_set()

    # -- changing, from inside the action ------------------------------------------

    def set_progress(
        self, percent: float | None, message: str | None = None, *, remaining: float | None = None
    ) -> None:
        """Record progress (clamped to 0-100, None for unknown), optionally a message and
        the seconds `remaining` (else estimated from the progress rate; see progress.py)."""
        checked_percent(percent)  # raise here, in the caller, for a bad value
        checked_remaining(remaining)
        now = time.time()
        self._update(lambda state: report(state, percent, message, remaining, now))

    def update_data(self, values: Mapping[str, Any]) -> None:
        """Merge JSON values into the record's `data`; raises TypeError for non-JSON."""
        if not isinstance(values, Mapping):
            raise TypeError("task data must be a mapping of names to JSON values")
        copied = to_json_value(dict(values))
        self._update(lambda state: state.data.update(copied))

    def add_log(self, record: logging.LogRecord) -> None:
        """Append a log record to the task's bounded log (the oldest entries drop off).

        Ignored once the task has finished: a finished record never changes.
        """
        entry = log_entry(record)
        with self._telling:
            with self._lock:
                if self._state.status in FINISHED:
                    return
                self._state.log.append(entry)
                self._count_change_locked()
            self._tell("log", {"id": self.id, "thing": self.thing, "action": self.action, **entry})

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
        with self._telling:
            with self._lock:
                state = self._state
                if state.status in FINISHED:
                    return False
                self._cancel_event.set()
                state.cancel_requested = True
                pending = state.status is TaskStatus.PENDING
                if not pending:
                    if state.message != CANCEL_MESSAGE:
                        self._message_before_cancel = state.message
                    state.message = CANCEL_MESSAGE
                    self._count_change_locked()
                    update = live_update(state)
            if pending:
                if self._instrument_lock is not None:
                    self._instrument_lock.withdraw(self._reservation)  # it never got its turn
                self._finish((TaskStatus.CANCELLED, None, None, "cancelled before it started"))
            else:
                self._tell("update", update)
        return True

    # -- running -----------------------------------------------------------------------

    def start(self) -> None:
        """Run now if the Thing's instrument lock is free (or not needed), else queue.

        A queued task holds no OS thread: its thread starts when the lock comes to it,
        in the order tasks were started. Raises `ServerBusyError` (and the task never
        runs) if no thread can be started now; a queued task that cannot get a thread
        when its turn comes ends in `error`.
        """
        if self.reserve():
            self.launch()

    def reserve(self) -> bool:
        """The first half of `start`: take the task's place in its Thing's lock queue.

        True if it may run now, and the caller must then call `launch()`; False if it
        is queued (its thread starts when its turn comes). Tasks reserved in some order
        take the lock in that order, however late each one's thread starts.
        """
        if self._instrument_lock is None or self._instrument_lock.reserve(self._reservation):
            self._holds_lock = self._instrument_lock is not None
            return True
        return False

    def launch(self) -> None:
        """The second half of `start`: start the OS thread of a task `reserve` let run.

        `ServerBusyError` (and the lock given back) if no thread can be started now.
        """
        try:
            self._run_on_a_thread()
        except RuntimeError as error:  # "can't start new thread"
            self._release_lock()
            raise ServerBusyError(
                "the server cannot start another task now; try again shortly"
            ) from error

    def _on_turn(self) -> bool:
        """The lock came to this queued task: start its thread; False if it cannot run."""
        self._holds_lock = True
        if self._state.status is not TaskStatus.PENDING:
            self._holds_lock = False
            return False  # cancelled while its turn was coming
        try:
            self._run_on_a_thread()
        except RuntimeError:
            self._holds_lock = False
            _logger.error("no thread could be started for %s", self.holder_description)
            self._end_unstarted(
                {
                    "type": "urn:labthings:problem:no-thread",
                    "title": "The server could not start the action",
                    "detail": "no thread could be started for it (the process is at its limit)",
                }
            )
            return False
        return True

    def _run_on_a_thread(self) -> None:
        """Hand `run` to a worker thread; RuntimeError if no thread can be had."""
        self._launched = True
        try:
            WORKERS.run(self.run, self.name)
        except BaseException:
            self._launched = False
            raise

    def _end_unstarted(self, problem: dict[str, Any]) -> None:
        """Finish a task that never ran, in error with `problem`."""
        self._finish((TaskStatus.ERROR, None, problem, "failed"))

    def _release_lock(self) -> None:
        if self._holds_lock and self._instrument_lock is not None:
            self._holds_lock = False
            self._instrument_lock.release()

    def run(self) -> None:
        token = _current.set(self)
        try:
            if not self._start_running():
                return
            outcome = self._call()
            self._release_lock()
            if outcome is not None:  # None: handed off, to be finished by its taker
                self._finish(outcome)
        finally:
            self._release_lock()
            _current.reset(token)
            self._body_ended.set()

    def _start_running(self) -> bool:
        """Move from pending to running; False if the task was cancelled meanwhile. A
        task that `stays_pending` stays so: its thread only sends the work elsewhere, and
        its taker says when the work starts."""
        with self._telling:
            with self._lock:
                if self._state.status is not TaskStatus.PENDING:
                    return False
                if self._stays_pending:
                    return True
                self._state.status = TaskStatus.RUNNING
                self._state.time_started = now_utc()
                self._count_change_locked()
                update = live_update(self._state)
            self._tell("update", update)
        return True

    def _call(self) -> Outcome | None:
        """Run the action and describe how it ended (None: its result was handed off)."""
        try:
            result = self._target_function(**self._arguments)
            if self._handoff is not None and self._handoff(self, result):
                return None
        except TaskCancelled:
            return TaskStatus.CANCELLED, None, None, "cancelled"
        except BaseException as error:  # noqa: BLE001 - any failure must end the record
            return self.failure(error)
        return self.outcome_of(result)

    def failure(self, error: BaseException) -> Outcome:
        """The outcome of the action (or a check for it) raising `error`, which is logged
        (with its traceback, unless it is an `ActionFailed`, whose message says it all)."""
        if isinstance(error, ActionFailed):
            _logger.error("action %r (invocation %s) failed: %s", self.action, self.id, error)
        else:
            _logger.error("action %r (invocation %s) failed", self.action, self.id, exc_info=error)
        return TaskStatus.ERROR, None, _error_problem(error), "failed"

    def outcome_of(self, result: Any) -> Outcome:
        """The outcome of the action returning `result`: completed with it as output, or
        an error if it cannot be sent as JSON."""
        try:
            output = self._dump_output(result)
        except Exception as error:  # noqa: BLE001 - a field may raise anything on a bad value
            _logger.error(
                "action %r (invocation %s) returned a value that cannot be sent as JSON: %s. "
                "Annotate the action's return type (e.g. -> list[float]) or convert the value "
                "to lists, numbers, strings and dicts before returning it",
                self.action,
                self.id,
                error,
            )
            problem = {
                "type": "urn:labthings:problem:bad-output",
                "title": "The action's return value cannot be sent as JSON",
                "detail": clean_text(str(error)),
            }
            return TaskStatus.ERROR, None, problem, "failed"
        return TaskStatus.COMPLETED, output, None, None

    def amend(
        self,
        change: Callable[[TaskState], None],
        persist: Callable[[int, dict[str, Any]], None] | None = None,
    ) -> None:
        """Apply `change` to the state of this unfinished task as one change of its record
        (for the runner's remote jobs); nothing happens once it has finished.

        `persist`, if given, is called with the new (version, record) before any reader
        can see the change, so no client learns of a change that a crash could lose. If it
        raises, the error propagates and live listeners are not told of the change
        (which stays made: a later read shows it)."""
        self._update(change, persist)

    def finish(self, outcome: Outcome) -> None:
        """End a handed-off task with `outcome` (see `Handoff`); only the first end counts."""
        self._finish(outcome)

    def _update(
        self,
        change: Callable[[TaskState], None],
        persist: Callable[[int, dict[str, Any]], None] | None = None,
    ) -> None:
        """Apply `change` to an unfinished task (`persist` the result, see `amend`) and
        tell the listener the light view."""
        with self._telling:
            with self._lock:
                if self._state.status in FINISHED:
                    return
                change(self._state)
                self._count_change_locked()
                if persist is not None:
                    persist(self._version, snapshot(self._state))
                update = live_update(self._state)
            self._tell("update", update)

    def _finish(self, outcome: Outcome) -> None:
        """End the task: the final record is persisted first, then made visible, then told,
        and only then does `wait` return.

        So no client (a POST waiting, a GET, a stream) learns of an end that a crash
        could lose. Only the first end counts.
        """
        with self._telling:
            with self._lock:
                if self._state.status in FINISHED:
                    return
                final = self._final_state(outcome)
                record = snapshot(final)
            text: str | None = None
            try:
                record, text = self._persist(self, record)
            except Exception:  # the end must still be seen, or waiters would hang
                _logger.exception("the final record of %s could not be stored", self.id)
            with self._lock:
                final.output = record["output"]
                final.output_media_type = record["outputMediaType"]
                self._state = final
                self._count_change_locked()
                if text is not None:  # after the version changed: the two go together
                    self._final = ListedRecord.of(record, text)
            try:
                self._tell("record", record)
            finally:
                self._done.set()  # after the telling: a waiter (a shutdown) never outruns it

    def _final_state(self, outcome: Outcome) -> TaskState:
        """A copy of the state with `outcome` applied (the live state is not touched)."""
        status, output, error, message = outcome
        state = self._state
        final = replace(
            state,
            status=status,
            output=output,
            error=error,
            data=dict(state.data),
            log=deque(state.log, maxlen=state.log.maxlen),
            time_completed=now_utc(),
        )
        if status is TaskStatus.COMPLETED and final.message == CANCEL_MESSAGE:
            # It finished without heeding the cancel: the request no longer describes it.
            final.message = self._message_before_cancel
        if message is not None:
            final.message = message
        if status is TaskStatus.COMPLETED and final.progress is not None:
            final.progress = 100
        return final

    def _count_change_locked(self) -> None:
        """Count a change and wake long-pollers."""
        self._version += 1
        self._changed.notify_all()

    def _tell(self, kind: str, data: dict[str, Any]) -> None:
        """Tell the listener (the caller holds `_telling`). A failure is logged and the
        listener stays attached: the next change, and the final record, still reach it."""
        if self._listener is None or self._in_listener:
            return  # a change made by the listener itself (its failure's log entry)
        self._in_listener = True
        try:
            self._listener(self, kind, data)
        except Exception:
            _logger.exception("a task listener failed on %s of %s", kind, self.id)
        finally:
            self._in_listener = False


def _not_run() -> None:
    raise RuntimeError("a resumed invocation is never run again")


def _error_problem(error: BaseException) -> dict[str, Any]:
    """An RFC 9457 problem object for an exception an action raised: `INPUT_REFUSED`,
    with the fields it names, for a `ValidationError` (an input its schema allows but the
    instrument does not take, e.g. a target outside a stage's limits)."""
    if isinstance(error, RemoteActionFailed):
        return dict(error.problem)
    if isinstance(error, ValidationError):
        return {
            "type": INPUT_REFUSED,
            "title": "The action refused its input",
            "detail": clean_text(str(error)),
            "errors": {
                name: [clean_text(m) for m in messages] for name, messages in error.errors.items()
            },
        }
    return {
        "type": "urn:labthings:problem:action-failed",
        "title": "The action failed",
        "detail": clean_text(f"{type(error).__name__}: {error}"),
        "exception": type(error).__name__,
    }
