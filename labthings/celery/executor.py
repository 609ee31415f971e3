"""The server side: send compute actions to Celery and follow them as remote jobs.

`CeleryExecutor.submit` runs in the invocation's task thread, while the record stays
`pending`: it sends the task (the inputs were validated before the invocation was made,
and travel as their JSON) and returns a `RemoteJob` that the server's remote-job machinery
checks with back-off, stores in the data folder and resumes after a restart. Each
check reads the task's state from the result backend (one read):

- `PENDING` (queued, or not known yet): the record stays `pending`;
- `PROGRESS` (a worker runs it): `running`, with the worker's progress, message, time
  remaining, data and new log lines; a heartbeat that has not changed for the
  `compute_lost_after` setting means the worker was killed or lost: `error`;
- `SUCCESS`: `completed` with the output (JSON, converted by the worker as the
  action's return annotation says); `FAILURE`: `error` with the worker's problem (the
  exception's type and message), or `worker-lost` if the worker's process died;
- `REVOKED`: `cancelled`.

A broker that cannot be reached makes the invocation `error` within seconds (the send is
bounded by `CONNECT_TIMEOUT` and a short retry); a result backend that stays unreachable
for `compute_lost_after` does too. DELETE revokes the task, terminating the process
running it, and marks it revoked in the result backend so that a worker that had not
heard of the revoke skips it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, NoReturn

from celery import Celery, states
from celery.backends.base import DisabledBackend
from kombu.utils.url import maybe_sanitize_url

from labthings.celery.app import TASK_NAME, action_ref, celery_app
from labthings.celery.report import PROGRESS, ComputeFailed, ReportSeen, apply
from labthings.core.errors import ConfigurationError, RemoteActionFailed, TaskCancelled
from labthings.core.tasks.action_api import raise_if_cancelled
from labthings.core.tasks.remote_job import RemoteJob
from labthings.core.tasks.thread import TaskThread, current_task
from labthings.core.things.actions import ActionAffordance

__all__ = ["FACTOR", "FIRST_CHECK", "MAX_INTERVAL", "CeleryExecutor"]

_logger = logging.getLogger(__name__)

FIRST_CHECK = 0.02
"""Seconds from sending a task to its first check."""
FACTOR = 1.5
"""How much each wait between checks grows."""
MAX_INTERVAL = 1.0
"""The longest wait between checks (one read of the result backend each)."""

UNREACHABLE = "urn:labthings:problem:compute-unreachable"
WORKER_LOST = "urn:labthings:problem:worker-lost"
FAILED = "urn:labthings:problem:action-failed"


class CeleryExecutor:
    """Sends compute actions to Celery workers through `app` and follows them.

    `lost_after` is the `compute_lost_after` setting (seconds without a heartbeat from
    a running task's worker, or without an answer from the result backend, before the
    invocation ends in `error`). `clock` gives seconds since the epoch.
    """

    def __init__(
        self,
        app: Celery,
        *,
        lost_after: float,
        owned: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if isinstance(app.backend, DisabledBackend):
            raise ConfigurationError(
                "the Celery app has no result backend; labthings reads the progress and "
                "results of compute actions from it (set result_backend, e.g. to the "
                "Redis broker's URL)"
            )
        self._app = app
        # One backend for every check thread: the app would make one per thread (Redis's
        # is not marked thread-safe for its result consumer, which is never used here;
        # its client, which reads and writes states, is).
        self._backend = app.backend
        self._lost_after = lost_after
        self._owned = owned
        self._clock = clock

    @classmethod
    def of(cls, celery: object, *, backend: str | None, lost_after: float) -> CeleryExecutor:
        """An executor for a broker URL (with `backend`, default the broker) or a Celery
        app; ConfigurationError for anything else."""
        if isinstance(celery, str):
            return cls(celery_app(celery, backend), lost_after=lost_after, owned=True)
        if isinstance(celery, Celery):
            if backend is not None:
                raise ConfigurationError("give the result backend in the Celery app's settings")
            return cls(celery, lost_after=lost_after)
        raise ConfigurationError(
            f"celery must be a broker URL or a Celery app, not {type(celery).__name__}"
        )

    # -- sending -------------------------------------------------------------------------

    def submit(
        self, thing: object, affordance: ActionAffordance, arguments: dict[str, Any]
    ) -> RemoteJob[Any]:
        """Send the action to the workers, from its task thread; the job to check."""
        task = _the_task()
        raise_if_cancelled()
        ref = action_ref(type(thing), affordance.name, task.thing)
        try:
            self._send(task.id, [ref, affordance.dump_input(arguments)])
        except Exception as error:  # kombu's OperationalError, or the transport's own
            raise RemoteActionFailed(
                {
                    "type": UNREACHABLE,
                    "title": "The Celery broker cannot be reached",
                    "detail": f"could not send the action to {self._where()}: {error}",
                }
            ) from error
        seen: ReportSeen = {"logged": 0, "shown": [None, None, None]}
        state = {
            "task": task.id,
            "seen": seen,
            "beat": None,
            "beatAt": None,
            "away": None,
            "worker": None,
        }
        return RemoteJob(
            check=self.celery_check,
            cancel=self.celery_revoke,
            state=state,
            message="queued for a Celery worker",
            delay=FIRST_CHECK,
            factor=FACTOR,
            max_interval=MAX_INTERVAL,
        )

    def _send(self, task_id: str, args: list[Any]) -> None:
        """Publish the task as `Celery.send_task` does, without its subscription to the
        result: that would make a result backend (and a Redis connection waiting on a
        result nobody awaits) in every task thread that sends."""
        amqp = self._app.amqp
        message = amqp.create_task_message(task_id, TASK_NAME, args, {})
        options = amqp.router.route({}, TASK_NAME, args, {})
        with self._app.producer_or_acquire() as producer:
            amqp.send_task_message(producer, TASK_NAME, message, **options)

    # -- checking ------------------------------------------------------------------------

    def celery_check(self, state: dict[str, Any]) -> RemoteJob[Any] | Any:
        """One check of a compute job (a method of this executor, stored by name): read
        its Celery state and put it in the record; its output once it has one."""
        task = _the_task()
        now = self._clock()
        try:
            meta = self._backend.get_task_meta(state["task"])
        except Exception as error:  # the result backend is away
            return self._away(state, error, now)
        state["away"] = None
        status, result = meta.get("status"), meta.get("result")
        report = result.report if isinstance(result, ComputeFailed) else result
        if isinstance(report, dict) and "worker" in report and state["worker"] is None:
            state["worker"] = f"{report['worker']} (pid {report['pid']})"
            _logger.info("run by Celery worker %s", state["worker"])
        if status == states.SUCCESS:
            apply(task, result, state["seen"], now=now)
            return result.get("output")
        if status == states.FAILURE:
            self._failed(task, result, state, now)
        if status == states.REVOKED:
            raise TaskCancelled(f"the Celery task {state['task']} was revoked")
        if status == PROGRESS:
            self._running(task, result, state, now)
        elif status == states.PENDING and state["beat"] is not None:
            self._forgotten(state, now)
        return RemoteJob(check=self.celery_check, state=state)

    def _running(
        self, task: TaskThread, report: dict[str, Any], state: dict[str, Any], now: float
    ) -> None:
        """Put a worker's report in the record; RemoteActionFailed if its heartbeat has
        stopped for longer than `lost_after`."""
        apply(task, report, state["seen"], now=now)
        if report["beat"] != state["beat"] or state["beatAt"] is None:
            state["beat"], state["beatAt"] = report["beat"], now
        elif now - state["beatAt"] > self._lost_after:
            self._revoke_quietly(state)  # in case it only hangs: it is given up
            raise RemoteActionFailed(
                {
                    "type": WORKER_LOST,
                    "title": "The Celery worker running the action was lost",
                    "detail": f"worker {report['worker']} (pid {report['pid']}) has sent no "
                    f"heartbeat for {now - state['beatAt']:.0f} s: it was stopped or its "
                    "machine lost; the action's outcome is unknown",
                }
            )

    def _forgotten(self, state: dict[str, Any], now: float) -> None:
        """A task that a worker ran is `PENDING` again: the result backend lost its state
        (Redis restarted without persistence, say). RemoteActionFailed once that has
        lasted `lost_after`, as for a worker that stopped reporting."""
        if now - state["beatAt"] > self._lost_after:
            raise RemoteActionFailed(
                {
                    "type": WORKER_LOST,
                    "title": "The Celery task running the action was lost",
                    "detail": f"{self._where(backend=True)} no longer knows the task, which "
                    "a worker had started (was it restarted?); the action's outcome is unknown",
                }
            )

    def _failed(
        self, task: TaskThread, error: object, state: dict[str, Any], now: float
    ) -> NoReturn:
        """End a job that Celery says failed: with the worker's problem, as cancelled,
        or (the worker's process died, say) with what Celery knows."""
        if isinstance(error, ComputeFailed):
            report = error.report
            if "logged" in report:
                apply(task, report, state["seen"], now=now, status=None)
            if report.get("cancelled"):
                raise TaskCancelled("the action stopped itself")
            raise RemoteActionFailed(report["problem"])
        kind = type(error).__name__
        lost = kind == "WorkerLostError"
        raise RemoteActionFailed(
            {
                "type": WORKER_LOST if lost else FAILED,
                "title": "The Celery worker running the action was lost"
                if lost
                else "The action failed",
                "detail": f"{kind}: {error}",
                "exception": kind,
            }
        )

    def _away(self, state: dict[str, Any], error: Exception, now: float) -> RemoteJob[Any]:
        """A check that could not read the result backend: try again, unless it has been
        unreachable for longer than `lost_after` (RemoteActionFailed)."""
        if state["away"] is None:
            state["away"] = now
            _logger.warning("the Celery result backend cannot be read: %s", error)
        if now - state["away"] > self._lost_after:
            raise RemoteActionFailed(
                {
                    "type": UNREACHABLE,
                    "title": "The Celery result backend cannot be reached",
                    "detail": f"{self._where(backend=True)} has not answered for "
                    f"{now - state['away']:.0f} s: {error}",
                }
            )
        message = "the result backend cannot be reached; trying again"
        return RemoteJob(check=self.celery_check, state=state, message=message)

    # -- cancelling ----------------------------------------------------------------------

    def celery_revoke(self, state: dict[str, Any]) -> None:
        """Revoke the job's task (a method of this executor, stored by name): a worker
        running it terminates that process; one that has not started it skips it (told
        by the broadcast, or, if it started after it, by the state marked here)."""
        try:
            self._backend.mark_as_revoked(state["task"], reason="cancelled by a client")
        finally:
            self._app.control.revoke(state["task"], terminate=True, signal="SIGTERM")

    def _revoke_quietly(self, state: dict[str, Any]) -> None:
        try:
            self.celery_revoke(state)
        except Exception as error:  # the invocation ends in error anyway
            _logger.warning("could not revoke the Celery task %s: %s", state["task"], error)

    # -- the rest ------------------------------------------------------------------------

    def _where(self, *, backend: bool = False) -> str:
        """The broker (or result backend) as a URL without its password."""
        if backend:
            return f"the result backend {self._backend.as_uri()}"
        return f"the broker {maybe_sanitize_url(str(self._app.conf.broker_url))}"

    def close(self) -> None:
        """Close the app's connections to the broker, if this executor made the app."""
        if self._owned:
            self._app.pool.force_close_all()
            self._app.close()


def _the_task() -> TaskThread:
    task = current_task()
    if task is None:
        raise RuntimeError("compute actions are sent and checked as their invocation")
    return task
