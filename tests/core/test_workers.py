"""The task workers: a thread is reused, at most `keep_idle` wait, an idle one ends after
`idle_for`, and a thread that cannot start is an error before the job runs."""

from __future__ import annotations

import threading

import pytest
from core_helpers import WAIT, wait_until

from labthings.core.tasks.workers import Workers, _Worker


def _alive(pool: Workers) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if isinstance(t, _Worker) and t.pool is pool]


class _Noted:
    """A job that notes the thread it ran on."""

    def __init__(self, pool: Workers) -> None:
        self.done = threading.Event()
        self.thread: threading.Thread | None = None
        pool.run(self._body, "labthings-task-test")

    def _body(self) -> None:
        self.thread = threading.current_thread()
        self.done.set()


def test_a_finished_jobs_thread_runs_the_next_job() -> None:
    pool = Workers(keep_idle=4, idle_for=WAIT)
    first = _Noted(pool)
    assert first.done.wait(WAIT)
    wait_until(lambda: pool.running() == [])
    second = _Noted(pool)
    assert second.done.wait(WAIT)
    assert second.thread is first.thread
    assert len(_alive(pool)) == 1


def test_at_most_keep_idle_workers_wait_after_a_burst() -> None:
    pool = Workers(keep_idle=2, idle_for=WAIT)
    barrier = threading.Barrier(6, timeout=WAIT)
    for _ in range(5):
        pool.run(barrier.wait, "labthings-task-burst")
    barrier.wait()  # five jobs run at once, each on a thread of its own
    wait_until(lambda: len(_alive(pool)) == 2)
    assert pool.running() == []


def test_an_idle_worker_ends_after_idle_for_and_new_jobs_still_run() -> None:
    pool = Workers(keep_idle=4, idle_for=0.05)
    assert _Noted(pool).done.wait(WAIT)
    wait_until(lambda: _alive(pool) == [])
    assert _Noted(pool).done.wait(WAIT)


def test_no_thread_for_a_job_is_an_error_and_the_job_never_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pool = Workers()

    def refuse(thread: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(_Worker, "start", refuse)
    ran = threading.Event()
    with pytest.raises(RuntimeError, match="can't start"):
        pool.run(ran.set, "labthings-task-never")
    assert not ran.is_set()
