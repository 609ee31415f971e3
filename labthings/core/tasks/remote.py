"""Remote jobs: invocations whose work runs elsewhere, checked with back-off.

An action that returns a `RemoteJob` hands its invocation over (`adopt`): its thread ends
(freeing the Thing's instrument lock) and the invocation stays `running` while a
`Scheduler` calls the job's check method at growing intervals on a few worker threads.
No thread waits per job: 500 jobs cost 500 heap entries and one stored row each.

What this module promises:

- A check runs as if inside the action: `current_task()`, `update_task_progress`,
  `update_task_data`, `raise_if_cancelled` and logging act on the invocation.
- Checks do not take the Thing's instrument lock: the work is on the remote side, and a
  check only asks how it goes. The checks of one job never overlap; those of different
  jobs (of the same Thing too) may run at the same time, up to `WORKERS`, so check
  methods must be safe to call from several threads.
- Each check that ends counts in the record's `checks`; `nextCheck` says when the next
  is due, counted from the end of the last one. Each check is one live `update`.
- The job is stored (`RemoteStore`) when adopted and after every check, before its
  record shows the check, so a restart, graceful or `kill -9`, resumes it with the same
  id and record, and every check a client saw counted is still counted. A check that was
  running when the server died is made again (its log lines, seen while it ran, are
  logged again), so checks must be safe to repeat.
- A graceful shutdown does not cancel remote jobs: it stops the scheduler, waits (to the
  shutdown deadline) for checks already running, and leaves the jobs stored to resume.
- Cancelling calls the job's cancel method (if any) with its state on a worker, then ends
  the invocation `cancelled`; if the method fails the message says so, and if it has not
  returned within `cancel_timeout` the invocation ends `cancelled` without it.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from labthings.core.errors import TaskCancelled
from labthings.core.jsonvalues import clean_text
from labthings.core.tasks.progress import MESSAGE_LIMIT, report
from labthings.core.tasks.record import TaskState, TaskStatus
from labthings.core.tasks.remote_job import (
    DEFAULT_DELAY,
    DEFAULT_FACTOR,
    DEFAULT_MAX_INTERVAL,
    RemoteJob,
    method_name,
)
from labthings.core.tasks.remote_store import Plan, RemoteStore, StoredJob
from labthings.core.tasks.scheduler import WORKERS, Scheduler
from labthings.core.tasks.thread import Outcome, TaskThread, acting_as

__all__ = ["CANCEL_TIMEOUT", "MIN_INTERVAL", "RemoteJobs"]

_logger = logging.getLogger(__name__)

CANCEL_TIMEOUT = 30.0
"""Seconds a job's cancel method may take before the invocation ends without it."""

MIN_INTERVAL = 0.01
"""Seconds between one check's end and the next at least, whatever the job asks, and
where growth starts from a wait of 0 (a job that asked to be checked at once)."""

LOST = "urn:labthings:problem:remote-job-lost"


@dataclass(eq=False)
class _Job:
    """A job being checked; `plan` and the flags change under `RemoteJobs._lock`."""

    task: TaskThread
    thing: object
    plan: Plan
    busy: bool = False
    """A check (or the cancel method) is running for it."""
    turn: int = 0
    """Counts schedulings: a scheduled check whose turn has passed does nothing."""

    def stored(self) -> StoredJob:
        """The job as stored now, with its record as it is."""
        return self.stored_as(*self.task.versioned_snapshot())

    def stored_as(self, version: int, record: dict[str, Any]) -> StoredJob:
        """The job as stored with this version of its record."""
        return StoredJob(self.task.id, self.task.thing, self.plan, version, record)


class RemoteJobs:
    """The remote jobs of one task runner: adopted, checked, stored, cancelled, resumed."""

    def __init__(
        self,
        store: RemoteStore,
        *,
        clock: Callable[[], float],
        workers: int = WORKERS,
        cancel_timeout: float = CANCEL_TIMEOUT,
    ) -> None:
        self._store = store
        self._clock = clock
        self._cancel_timeout = cancel_timeout
        self._scheduler = Scheduler(workers=workers, clock=clock, name="labthings-remote")
        self._lock = threading.Lock()
        self._jobs: dict[str, _Job] = {}
        self._stopped = False

    @property
    def threads(self) -> int:
        """Threads the checks use (the same for one job or thousands)."""
        return self._scheduler.threads

    def holds(self, task_id: str) -> bool:
        """True if the invocation is a remote job being checked."""
        with self._lock:
            return task_id in self._jobs

    def wake(self) -> None:
        """Look at the clock again (after a test's clock jumped)."""
        self._scheduler.wake()

    # -- taking jobs over --------------------------------------------------------------

    def adopt(self, thing: object, task: TaskThread, result: Any) -> bool:
        """The `Handoff` of actions of `thing`: take `task` over if its action returned
        a `RemoteJob`; True if taken. Raises ValueError (the action fails) if the job's
        methods are not the Thing's."""
        if not isinstance(result, RemoteJob):
            return False
        check = method_name(result.check, thing)
        cancel = None if result.cancel is None else method_name(result.cancel, thing)
        interval = DEFAULT_DELAY if result.delay is None else result.delay
        plan = Plan(
            check=check,
            cancel=cancel,
            state=result.state,
            interval=interval,
            factor=DEFAULT_FACTOR if result.factor is None else result.factor,
            max_interval=(
                DEFAULT_MAX_INTERVAL if result.max_interval is None else result.max_interval
            ),
            checks=0,
            due=self._clock() + interval,
        )
        job = _Job(task, thing, plan)
        with self._lock:
            if not (task.cancel_requested and self._stopped):
                job.plan.cancelling = task.cancel_requested
                self._jobs[task.id] = job
                try:
                    self._note_and_store_locked(job, result)
                    self._next_locked(job)
                except BaseException:  # e.g. no thread for the scheduler: the action fails
                    del self._jobs[task.id]
                    self._store.remove(task.id)
                    raise
                return True
        # The shutdown cancelled the action, which returned a job all the same: cancel
        # that too, here in the action's thread, as no worker will run any more.
        task.amend(lambda state: self._note(state, job, result))
        self._call_cancel(job)
        return True

    def stored(self) -> list[StoredJob]:
        """The jobs stored by an earlier run, to `resume`."""
        return self._store.load()

    def discard(self, job_id: str) -> None:
        """Forget a stored job whose invocation has ended (or is gone)."""
        self._store.remove(job_id)

    def resume(self, task: TaskThread, stored: StoredJob, thing: object | None) -> None:
        """Go on checking a job stored by an earlier run, as `task` (rebuilt from its
        record); `thing` is the Thing now served under its name (None if none is). A job
        whose Thing or methods are gone ends in `error`."""
        problem = None
        if thing is None:
            problem = f"thing {stored.thing!r} is no longer served"
        else:
            for name in filter(None, (stored.plan.check, stored.plan.cancel)):
                if not callable(getattr(thing, name, None)):
                    problem = f"{type(thing).__name__} {stored.thing!r} has no method {name!r}"
                    break
        if problem is not None:
            _logger.error("remote job %s cannot be resumed: %s", task.id, problem)
            detail = f"{problem}, so the remote job cannot be checked after the restart"
            error = {"type": LOST, "title": "The remote job could not be resumed", "detail": detail}
            task.finish((TaskStatus.ERROR, None, error, "failed"))
            self._store.remove(task.id)
            return
        job = _Job(task, thing, stored.plan)
        with self._lock:
            self._jobs[task.id] = job
            self._next_locked(job)

    # -- checking ----------------------------------------------------------------------

    def _next_locked(self, job: _Job) -> None:
        """Schedule the job's next step: its cancel method if asked, else its next check.
        Nothing is scheduled once stopped (the job stays stored)."""
        job.turn += 1
        turn = job.turn
        if job.plan.cancelling:
            job.busy = True
            deadline = self._clock() + self._cancel_timeout
            if self._scheduler.soon(lambda: self._call_cancel(job)):
                self._scheduler.at(deadline, lambda: self._cancel_overdue(job))
            return
        self._scheduler.at(job.plan.due, lambda: self._check(job, turn))

    def _check(self, job: _Job, turn: int) -> None:
        """Call the job's check method and act on what it says."""
        with self._lock:
            if job.turn != turn or job.busy or job.task.id not in self._jobs:
                return  # cancelled (or rescheduled) since this check was planned
            job.busy = True
            check, state = job.plan.check, copy.deepcopy(job.plan.state)
        task = job.task
        outcome: Outcome | None = None
        result: Any = None
        cancelled = False
        with acting_as(task):
            try:
                result = getattr(job.thing, check)(state)
                if isinstance(result, RemoteJob):
                    self._follow(job, result)
                else:
                    outcome = task.outcome_of(result)
            except TaskCancelled:
                cancelled = True
            except BaseException as error:  # noqa: BLE001 - any failure ends the invocation
                outcome = task.failure(error)
        self._checked(job, outcome, result if outcome is None else None, cancelled)

    def _follow(self, job: _Job, result: RemoteJob[Any]) -> None:
        """Take a check's `RemoteJob` (ValueError if its methods are not the Thing's)."""
        plan = job.plan
        check = method_name(result.check, job.thing)
        cancel = plan.cancel if result.cancel is None else method_name(result.cancel, job.thing)
        with self._lock:
            plan.check, plan.cancel, plan.state = check, cancel, result.state
            if result.factor is not None:
                plan.factor = result.factor
            if result.max_interval is not None:
                plan.max_interval = result.max_interval
            if result.delay is not None:
                plan.interval = result.delay
            else:
                grown = max(plan.interval, MIN_INTERVAL) * plan.factor
                plan.interval = min(grown, plan.max_interval)

    def _checked(self, job: _Job, outcome: Outcome | None, result: Any, cancelled: bool) -> None:
        """After a check: end the invocation, or record the check and plan the next."""
        task = job.task
        with self._lock:
            job.plan.checks += 1
            job.plan.due = self._clock() + max(job.plan.interval, MIN_INTERVAL)
            job.busy = False
            job.plan.cancelling = job.plan.cancelling or cancelled
        if outcome is not None:
            task.amend(lambda state: setattr(state, "checks", job.plan.checks))
            task.finish(outcome)
            self._forget(job)
            return
        update = result if isinstance(result, RemoteJob) else None
        with self._lock:
            self._note_and_store_locked(job, update)
            if not self._stopped:
                self._next_locked(job)

    def _note_and_store_locked(self, job: _Job, update: RemoteJob[Any] | None) -> None:
        """Note the job's plan (and `update`'s report) in its record and store the job,
        before any client can see the change: a check a client has seen counted survives
        a `kill -9`."""
        job.task.amend(
            lambda state: self._note(state, job, update),
            persist=lambda version, record: self._store.save(job.stored_as(version, record)),
        )

    def _note(self, state: TaskState, job: _Job, update: RemoteJob[Any] | None) -> None:
        """Put a job's checks, next due time and reported progress in its record."""
        if update is not None and (update.progress is not None or update.remaining is not None):
            percent = state.progress if update.progress is None else update.progress
            report(state, percent, update.message, update.remaining, self._clock())
        elif update is not None and update.message is not None:
            state.message = clean_text(update.message[:MESSAGE_LIMIT])
        state.checks = job.plan.checks
        state.next_check = None if job.plan.cancelling else _moment(job.plan.due)

    # -- cancelling --------------------------------------------------------------------

    def cancel(self, task_id: str) -> None:
        """A client asked to cancel this invocation (its task's cancel flag is set): call
        its job's cancel method, then end it `cancelled`. Nothing for other invocations."""
        with self._lock:
            job = self._jobs.get(task_id)
            if job is None or job.plan.cancelling:
                return
            job.plan.cancelling = True
            self._store.save(job.stored())
            if not job.busy:  # else the running check sees `cancelling` when it ends
                self._next_locked(job)

    def _call_cancel(self, job: _Job) -> None:
        """Run the job's cancel method with its state, then end it `cancelled`."""
        task = job.task
        message = "cancelled"
        if job.plan.cancel is not None:
            with acting_as(task):
                try:
                    getattr(job.thing, job.plan.cancel)(copy.deepcopy(job.plan.state))
                except BaseException as error:  # noqa: BLE001 - it must still end
                    _logger.warning("the cancel method %r failed: %s", job.plan.cancel, error)
                    failed = f"cancelled, but {job.plan.cancel} failed: {error}"
                    message = clean_text(failed[:MESSAGE_LIMIT])
        task.finish((TaskStatus.CANCELLED, None, None, message))
        self._forget(job)

    def _cancel_overdue(self, job: _Job) -> None:
        """End a job whose cancel method has not returned in time."""
        if job.task.finished:
            return
        with acting_as(job.task):
            _logger.warning(
                "the cancel method %r did not return within %g s",
                job.plan.cancel,
                self._cancel_timeout,
            )
        message = (
            f"cancelled, but {job.plan.cancel} did not return within {self._cancel_timeout:g} s"
        )
        job.task.finish((TaskStatus.CANCELLED, None, None, message))
        self._forget(job)

    def _forget(self, job: _Job) -> None:
        """Drop an ended job (its final record is in the history by now)."""
        with self._lock:
            self._jobs.pop(job.task.id, None)
            self._store.remove(job.task.id)

    # -- stopping ----------------------------------------------------------------------

    def stop(self) -> None:
        """Check no more (the jobs stay stored, to resume on the next start); checks
        running now still end and are stored. Idempotent; never blocks for long."""
        with self._lock:
            self._stopped = True
        self._scheduler.stop()

    def wait_idle(self, timeout: float) -> bool:
        """Wait up to `timeout` s for running checks to end; True if none runs."""
        return self._scheduler.wait_idle(timeout)

    def close(self) -> None:
        """Stop, and close the store (a check that ends later stores nothing)."""
        self.stop()
        self._store.close()


def _moment(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=timezone.utc)
