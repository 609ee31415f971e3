"""The worker side: the Celery task that runs a compute action, and `labthings worker`.

Inside the task the action runs as it would in the server: `update_task_progress`,
`update_task_data`, `current_task()` and logging at INFO and above act on a task record
kept in the worker (a `TaskThread` that is never started), and a `Reporter` thread
stores that record as the Celery state `PROGRESS` whenever it changes (at most every
`REPORT_EVERY` s) and at least every `HEARTBEAT` s, so that the server sees progress
and knows the worker is alive. `raise_if_cancelled` never fires here: a DELETE revokes
the Celery task and terminates the process running it (SIGTERM, which Python turns into
`SystemExit` in the action, so `finally` blocks run).

`self` inside the action is a bare instance of its Thing class, made without calling
`__init__` and never opened: class attributes and other methods work, instance state
(the instrument) is not there.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from celery import Celery, Task, states
from celery.exceptions import Ignore

from labthings.celery.app import TASK_NAME, ActionRef, celery_app, resolve
from labthings.celery.report import LOG_SENT, PROGRESS, ComputeFailed, WorkerReport
from labthings.core.errors import TaskCancelled, ValidationError
from labthings.core.tasks import logs as task_logs
from labthings.core.tasks.record import TaskState, TaskStatus
from labthings.core.tasks.thread import Outcome, TaskThread, acting_as

__all__ = ["HEARTBEAT", "REPORT_EVERY", "Reporter", "run_compute", "run_worker", "worker_app"]

_logger = logging.getLogger(__name__)

REPORT_EVERY = 0.2
"""Seconds between reports at most, while the action changes its record."""
HEARTBEAT = 1.0
"""Seconds between reports at least, changed or not: the worker is alive."""
UNKNOWN = "urn:labthings:problem:compute-unknown"


class Reporter:
    """Stores a worker-side task's record as the Celery state `PROGRESS`: at once when
    started, then after changes (at most every `every` s) and every `heartbeat` s."""

    def __init__(
        self,
        store: Callable[[WorkerReport], None],
        *,
        worker: str,
        every: float = REPORT_EVERY,
        heartbeat: float = HEARTBEAT,
    ) -> None:
        self._store = store
        self._worker = worker
        self._every = every
        self._heartbeat = heartbeat
        self._lock = threading.Lock()
        self._log: deque[dict[str, Any]] = deque(maxlen=LOG_SENT)
        self._logged = 0
        self._beat = 0
        self._started = time.time()
        self._task: TaskThread | None = None
        self._changed = threading.Event()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="labthings-reporter", daemon=True)

    def listener(self, task: TaskThread, kind: str, data: dict[str, Any]) -> None:
        """The worker-side task's listener: note a change (and keep a new log line)."""
        if kind == "log":
            entry = {key: data[key] for key in ("levelname", "levelno", "message", "created")}
            with self._lock:
                self._log.append({**entry, "logger": data["logger"]})
                self._logged += 1
        self._changed.set()

    def start(self, task: TaskThread) -> None:
        """Report `task` now (it is running), then keep reporting it in a thread."""
        self._task = task
        self._send()
        self._thread.start()

    def stop(self) -> WorkerReport:
        """Stop reporting (no report is stored after this returns); the last report."""
        self._stopped.set()
        if self._thread.ident is not None:
            self._thread.join()
        return self.report()

    def report(self) -> WorkerReport:
        """The task's record as a report, now."""
        assert self._task is not None
        record = self._task.snapshot()
        with self._lock:
            self._beat += 1
            return {
                "progress": record["progress"],
                "message": record["message"],
                "remaining": record["estimatedRemaining"],
                "data": record["data"],
                "log": list(self._log),
                "logged": self._logged,
                "beat": self._beat,
                "started": self._started,
                "worker": self._worker,
                "pid": os.getpid(),
            }

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stopped.wait(self._every):
            if self._changed.is_set() or time.monotonic() - last >= self._heartbeat:
                self._send()
                last = time.monotonic()

    def _send(self) -> None:
        self._changed.clear()
        try:
            self._store(self.report())
        except Exception as error:  # the backend is away: the next report may get through
            _logger.warning("could not report to the result backend: %s", error)


def run_compute(celery_task: Task, ref: ActionRef, arguments: dict[str, Any]) -> dict[str, Any]:
    """The body of the `labthings.compute` task: run the compute action `ref` names with
    the JSON `arguments` the server validated; its JSON output with the last report, or
    `ComputeFailed` carrying the problem."""
    task_logs.install()  # here, not at import: Celery sets up the worker's logging late
    task_id = str(celery_task.request.id)
    try:
        thing_class, affordance = resolve(ref)
        loaded = affordance.validate_input(arguments)
    except (LookupError, ValidationError) as error:
        refusal = {
            "type": UNKNOWN,
            "title": "The worker cannot run this action",
            "detail": f"worker {celery_task.request.hostname}: {error}",
        }
        raise ComputeFailed({"problem": refusal}) from None
    if _revoked(celery_task, task_id):
        raise Ignore()  # cancelled while queued, before this worker heard of the revoke
    backend = celery_task.backend  # this thread's: the app makes one per thread
    reporter = Reporter(
        lambda report: backend.store_result(task_id, report, PROGRESS),
        worker=str(celery_task.request.hostname),
    )
    state = TaskState(
        id=task_id,
        thing=str(ref.get("thing", "")),
        action=affordance.name,
        input=dict(arguments),
        log=deque(maxlen=LOG_SENT),
    )
    task = TaskThread.resumed(
        state, 0, dump_output=affordance.dump_output, listener=reporter.listener
    )
    bare = thing_class.__new__(thing_class)  # no __init__, no __enter__: no instrument
    reporter.start(task)
    try:
        outcome = _run(task, lambda: affordance.func(bare, **loaded))
    finally:
        last = reporter.stop()
    status, output, problem, _ = outcome
    if status is TaskStatus.COMPLETED:
        return {**last, "output": output}
    cancelled = status is TaskStatus.CANCELLED
    raise ComputeFailed({**last, "problem": problem, "cancelled": cancelled})


def _revoked(celery_task: Task, task_id: str) -> bool:
    """True if the server marked the task revoked in the result backend (a worker that
    started after the revoke was broadcast knows it only from there)."""
    try:
        return bool(celery_task.backend.get_task_meta(task_id).get("status") == states.REVOKED)
    except Exception as error:  # the backend is away: run it; its reports will tell
        _logger.warning("could not read the state of task %s: %s", task_id, error)
        return False


def _run(task: TaskThread, call: Callable[[], Any]) -> Outcome:
    """Run `call` as `task` and say how it ended, as a task thread would. SystemExit
    (the revoke's SIGTERM) and KeyboardInterrupt go on up: the process is stopping."""
    with acting_as(task):
        try:
            result = call()
        except TaskCancelled:
            return TaskStatus.CANCELLED, None, None, "cancelled"
        except Exception as error:
            failed = error
        else:
            return task.outcome_of(result)
    # Logged (with the traceback) on the worker's console only: the server puts the
    # failure in the invocation's log when its check sees it.
    return task.failure(failed)


def worker_app(broker: str, backend: str | None = None) -> Celery:
    """The Celery app of a labthings worker: `celery_app` with the compute task."""
    app = celery_app(broker, backend)
    # ComputeFailed is "expected": the action's own failure was logged with its traceback.
    app.task(name=TASK_NAME, bind=True, throws=(ComputeFailed,))(run_compute)
    return app


def run_worker(
    broker: str,
    backend: str | None,
    *,
    concurrency: int | None = None,
    pool: str = "prefork",
    log_level: str = "info",
    options: Sequence[str] = (),
) -> None:
    """Run a Celery worker for the compute actions of the modules loaded so far, until
    it is stopped (SIGTERM or Ctrl-C: a warm shutdown that lets running actions end)."""
    argv = ["worker", f"--loglevel={log_level.upper()}", f"--pool={pool}"]
    if concurrency is not None:
        argv.append(f"--concurrency={concurrency}")
    # Mingle and gossip make a worker wait for its peers at start; compute tasks need
    # neither (a revoke is broadcast to every worker whatever they know of each other).
    argv += ["--without-mingle", "--without-gossip", *options]
    worker_app(broker, backend).worker_main(argv)
