"""Reusable OS threads for task bodies: a task runs on an idle worker, or on a new one.

Starting an OS thread for every invocation cost more than the rest of an instant
action's run (`bench/compare.py`, W3). A worker runs one task at a time, then waits
for the next; at most `keep_idle` wait, and an idle worker ends after `idle_for`
seconds, so a burst of hundreds of tasks leaves no crowd of threads behind.

Each job runs in a fresh `contextvars.Context`, as it would in a new thread, so no
context variable set by one task is seen by the next on the same worker; the worker
takes the job's name while it runs, so logs and debuggers name the task.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable

__all__ = ["WORKERS", "Workers"]

_logger = logging.getLogger(__name__)


class _Worker(threading.Thread):
    """One reusable daemon thread; `Workers` hands it jobs."""

    def __init__(self, pool: Workers, job: Callable[[], None], name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.pool = pool
        self._job: Callable[[], None] | None = job
        self._wake = threading.Lock()
        self._wake.acquire()  # released to hand over the next job

    def give(self, job: Callable[[], None], name: str) -> None:
        """Run `job` next (the worker is idle and no longer listed as such)."""
        self._job = job
        self.name = name
        self._wake.release()

    def run(self) -> None:
        while True:
            job, self._job = self._job, None
            if job is None:
                return
            try:
                contextvars.Context().run(job)
            except Exception:  # a task body records its own failures; this is a bug
                _logger.exception("a task's body failed on thread %s", self.name)
            del job  # the finished task may be freed while the worker waits
            if not self.pool.rest(self):
                return
            if not self._wake.acquire(timeout=self.pool.idle_for):
                if self.pool.retire(self):
                    return
                self._wake.acquire()  # `run` took this worker as it timed out: a job comes


class Workers:
    """A pool of daemon threads, growing as needed, keeping up to `keep_idle` idle ones."""

    def __init__(self, *, keep_idle: int = 64, idle_for: float = 30.0) -> None:
        self.keep_idle = keep_idle
        self.idle_for = idle_for
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []

    def run(self, job: Callable[[], None], name: str) -> None:
        """Run `job()` on a thread of its own until it returns.

        Raises RuntimeError (as `threading.Thread.start` does) if no new thread can be
        started when none is idle; the job then never runs.
        """
        with self._lock:
            worker = self._idle.pop() if self._idle else None
        if worker is None:
            _Worker(self, job, name).start()
        else:
            worker.give(job, name)

    def running(self) -> list[str]:
        """The names of the jobs running now."""
        with self._lock:
            idle = {id(worker) for worker in self._idle}
        return [
            thread.name
            for thread in threading.enumerate()
            if isinstance(thread, _Worker) and thread.pool is self and id(thread) not in idle
        ]

    def rest(self, worker: _Worker) -> bool:
        """A worker finished its job: True if it should wait for another (it is listed
        idle), False if enough others already wait and it should end."""
        with self._lock:
            if len(self._idle) >= self.keep_idle:
                return False
            self._idle.append(worker)
            return True

    def retire(self, worker: _Worker) -> bool:
        """An idle worker waited `idle_for` in vain: True if it is unlisted and may end,
        False if `run` took it meanwhile (a job is on its way)."""
        with self._lock:
            if worker in self._idle:
                self._idle.remove(worker)
                return True
            return False


WORKERS = Workers()
"""The process's pool: every runner's tasks share its idle threads."""
