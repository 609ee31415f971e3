"""Remote jobs in the core: checks with back-off, output, error, cancel, resume, 500 at once."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from core_helpers import WAIT, FakeClock, finish, invoke, serve, wait_until
from lab_remote import Analyser, AnalyserWithoutPoll

from labthings import RemoteJob
from labthings.core.errors import TaskFinishedError
from labthings.core.settings import Settings
from labthings.core.tasks import logs as task_logs
from labthings.core.tasks.remote import MIN_INTERVAL
from labthings.core.tasks.runner import TaskRunner
from labthings.core.tasks.thread import TaskThread
from labthings.core.tasks.workers import WORKERS
from labthings.core.things.persistence import STATE_FILE
from labthings.core.things.registry import ThingEntry, ThingRegistry

LONG = 3600.0
"""A job that does not finish within a test."""


@pytest.fixture(autouse=True)
def task_logs_on() -> Iterator[None]:
    """Log records made in actions and checks go to task logs, INFO lines too."""
    task_logs.install()
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.INFO)
    yield
    root.setLevel(level)


@pytest.fixture
def analyser() -> Iterator[Analyser]:
    thing = Analyser()
    yield thing
    thing.gate.set()


@pytest.fixture
def entry(analyser: Analyser) -> ThingEntry:
    return serve(analyser, "analyser")


def start(runner: TaskRunner, entry: ThingEntry, **body: Any) -> TaskThread:
    """Start `analyse` and wait until its action has handed the job over."""
    task = invoke(runner, entry, body.pop("action", "analyse"), body)
    wait_until(lambda: runner.remote.holds(task.id) or task.finished)
    task.join(WAIT)  # the action's thread ends when it returns the RemoteJob
    assert not task.is_alive()
    return task


def checks(task: TaskThread) -> int:
    count: int | None = task.snapshot()["checks"]
    assert count is not None
    return count


def messages(record: dict[str, Any]) -> list[str]:
    return [entry["message"] for entry in record["log"]]


def test_a_job_is_checked_until_its_check_returns_the_output(
    runner: TaskRunner, entry: ThingEntry, analyser: Analyser
) -> None:
    task = start(runner, entry, seconds=0.4, result=4.5, delay=0.02, max_interval=0.05)
    running = task.snapshot()
    assert running["status"] == "running"
    assert running["nextCheck"] is not None and running["checks"] is not None

    final = finish(task)
    assert final["status"] == "completed" and final["output"] == 4.5
    assert final["checks"] >= 3 and final["nextCheck"] is None
    assert final["progress"] is None or final["progress"] == 100
    assert runner.get(task.id).snapshot() == final  # as the history keeps it
    logged = messages(final)
    assert logged[0].startswith("submitted job") and "checked job" in logged[-1]
    assert final["data"]["lastCheckedJob"] == logged[0].split()[-1]
    assert set(analyser.tasks_seen) == {task.id}  # current_task() inside a check


def test_the_action_thread_and_instrument_lock_are_free_while_the_job_runs(
    runner: TaskRunner, entry: ThingEntry
) -> None:
    first = start(runner, entry, action="measure", seconds=LONG)
    second = start(runner, entry, action="measure", seconds=LONG)  # needs the same lock
    assert runner.remote.holds(first.id) and runner.remote.holds(second.id)
    assert first.status.value == "running" and second.status.value == "running"
    for task in (first, second):
        runner.cancel(task.id, WAIT)


def test_checks_back_off_by_the_factor_up_to_the_maximum(
    make_runner: Callable[..., TaskRunner], entry: ThingEntry
) -> None:
    clock = FakeClock()
    runner = make_runner(clock=clock)
    task = start(runner, entry, seconds=LONG, delay=0.5, factor=2, max_interval=3)

    def wait_after_last_check() -> float:
        due = datetime.fromisoformat(task.snapshot()["nextCheck"]).timestamp()
        return round(due - clock.now, 3)

    waits = [wait_after_last_check()]
    clock.advance(0.4)  # not yet due
    runner.remote.wake()
    threading.Event().wait(0.2)
    assert checks(task) == 0
    clock.advance(0.1)
    for made in range(1, 6):
        runner.remote.wake()
        wait_until(lambda made=made: checks(task) == made)  # type: ignore[misc]
        waits.append(wait_after_last_check())
        clock.advance(waits[-1])
    assert waits == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    runner.cancel(task.id, WAIT)


def test_a_job_checked_at_once_backs_off_from_the_shortest_wait(
    make_runner: Callable[..., TaskRunner], entry: ThingEntry
) -> None:
    clock = FakeClock()
    runner = make_runner(clock=clock)
    task = start(runner, entry, seconds=LONG, delay=0, factor=2, max_interval=3)
    wait_until(lambda: checks(task) == 1)  # at once: the clock has not moved
    due = datetime.fromisoformat(task.snapshot()["nextCheck"]).timestamp()
    assert round(due - clock.now, 3) == 2 * MIN_INTERVAL  # not 0 * 2 for ever
    runner.cancel(task.id, WAIT)


def test_a_check_that_raises_ends_the_invocation_in_error(
    runner: TaskRunner, entry: ThingEntry
) -> None:
    task = start(runner, entry, seconds=LONG, fail="the sample burned", delay=0.01)
    final = finish(task)
    assert final["status"] == "error" and final["checks"] == 1
    assert final["error"]["detail"] == "RuntimeError: the sample burned"
    assert final["error"]["exception"] == "RuntimeError"
    assert any(entry["levelname"] == "ERROR" for entry in final["log"])
    assert not runner.remote.holds(task.id)


@pytest.mark.parametrize(
    ("check", "after"),
    [("no_such_method", 0), ("renaming_poll", 1)],
    ids=["from the action", "from a check"],
)
def test_a_check_that_is_no_method_of_the_thing_is_an_error(
    runner: TaskRunner, entry: ThingEntry, check: str, after: int
) -> None:
    task = invoke(runner, entry, "analyse", {"check": check, "delay": 0.01})
    final = finish(task)
    assert final["status"] == "error"
    assert "has no method 'no_such_method'" in final["error"]["detail"]
    assert (final["checks"] or 0) == after


def test_cancel_calls_the_cancel_method_with_the_state(
    runner: TaskRunner, entry: ThingEntry, analyser: Analyser
) -> None:
    task = start(runner, entry, seconds=LONG, delay=0.01, max_interval=0.02)
    wait_until(lambda: checks(task) >= 2)
    cancelled, ended = runner.cancel(task.id, WAIT)
    assert ended and cancelled is task
    final = task.snapshot()
    assert final["status"] == "cancelled" and final["message"] == "cancelled"
    assert final["nextCheck"] is None and final["estimatedRemaining"] is None
    (state,) = analyser.aborted_states
    assert messages(final)[0] == f"submitted job {state['name']}"
    assert state["finishAt"] - state["start"] == pytest.approx(LONG)
    assert f"aborting job {state['name']}" in messages(final)
    with pytest.raises(TaskFinishedError):
        runner.cancel(task.id, WAIT)
    made = final["checks"]
    threading.Event().wait(0.1)
    assert runner.get(task.id).snapshot()["checks"] == made  # no check after the end


def test_cancel_without_a_cancel_method_just_ends_it(
    runner: TaskRunner, entry: ThingEntry, analyser: Analyser
) -> None:
    task = start(runner, entry, seconds=LONG, cancel="")
    assert runner.cancel(task.id, WAIT)[1]
    assert task.snapshot()["status"] == "cancelled" and analyser.aborted == []


def test_a_failing_cancel_method_is_reported_and_the_job_still_ends(
    runner: TaskRunner, entry: ThingEntry
) -> None:
    task = start(runner, entry, seconds=LONG, cancel="failing_abort")
    assert runner.cancel(task.id, WAIT)[1]
    final = task.snapshot()
    assert final["status"] == "cancelled"
    assert final["message"] == "cancelled, but failing_abort failed: the service did not answer"
    assert any("failing_abort" in line for line in messages(final))


def test_cancel_during_a_check_waits_for_it_then_cancels_with_the_newest_state(
    runner: TaskRunner, entry: ThingEntry, analyser: Analyser
) -> None:
    task = start(runner, entry, seconds=LONG, check="held_poll", delay=0)
    assert analyser.holding.wait(WAIT)
    _, ended = runner.cancel(task.id, 0.2)
    assert not ended and task.snapshot()["cancelRequested"] is True
    analyser.gate.set()
    final = finish(task)
    assert final["status"] == "cancelled" and final["checks"] == 1
    assert len(analyser.aborted) == 1


def test_a_cancel_method_that_hangs_is_given_up_on(
    make_runner: Callable[..., TaskRunner], entry: ThingEntry, analyser: Analyser
) -> None:
    clock = FakeClock()
    runner = make_runner(clock=clock)
    task = start(runner, entry, seconds=LONG, delay=60, cancel="stuck_abort")
    _, ended = runner.cancel(task.id, 0.1)
    assert not ended and analyser.holding.wait(WAIT)
    clock.advance(31)
    runner.remote.wake()
    final = finish(task)
    assert final["status"] == "cancelled"
    assert final["message"] == "cancelled, but stuck_abort did not return within 30 s"
    analyser.gate.set()
    wait_until(lambda: len(analyser.aborted) == 1)
    assert task.snapshot() == final  # its late return changes nothing


def test_a_job_returned_by_an_action_the_shutdown_cancelled_is_cancelled_too(
    make_runner: Callable[..., TaskRunner], entry: ThingEntry, analyser: Analyser
) -> None:
    runner = make_runner()
    task = invoke(runner, entry, "submit_late", {})
    assert analyser.holding.wait(WAIT)
    assert runner.shutdown(0.1) == [task]  # still in its action, which ignores the cancel
    analyser.gate.set()
    final = finish(task)
    assert final["status"] == "cancelled" and len(analyser.aborted) == 1
    assert not runner.remote.holds(task.id)


def test_progress_data_and_log_made_inside_a_check_land_in_the_invocation(
    runner: TaskRunner, entry: ThingEntry, analyser: Analyser
) -> None:
    task = start(runner, entry, seconds=30, check="reporting_poll", delay=0.01, max_interval=5)
    wait_until(lambda: checks(task) >= 1)
    record = task.snapshot()
    assert record["data"]["lastCheckedJob"] in messages(record)[0]
    assert "checked job" in messages(record)[-1]
    assert 20 < record["estimatedRemaining"] <= 30  # the figure the check gave
    assert record["progress"] is not None and record["progress"] < 50  # its RemoteJob's
    assert analyser.tasks_seen == [task.id]
    runner.cancel(task.id, WAIT)


def test_500_jobs_at_once_cost_no_thread_each(
    runner: TaskRunner, entry: ThingEntry, analyser: Analyser
) -> None:
    before = threading.active_count()
    tasks = [
        invoke(runner, entry, "analyse", {"seconds": LONG, "delay": 0.01, "max_interval": 1})
        for _ in range(500)
    ]
    wait_until(lambda: all(runner.remote.holds(task.id) for task in tasks), timeout=60)
    for task in tasks:
        task.join(WAIT)
    wait_until(lambda: min(checks(task) for task in tasks) >= 2, timeout=60)
    during = threading.active_count()
    assert runner.remote.threads == 5  # the scheduler and its 4 workers
    assert WORKERS.running() == []  # no task's thread is kept for its job
    # Only the remote-job threads, and task workers kept idle for the next tasks:
    assert during - before <= runner.remote.threads + WORKERS.keep_idle
    for task in tasks:
        runner.cancel(task.id, 0)
    for task in tasks:
        assert finish(task, 60)["status"] == "cancelled"
    assert len(set(analyser.aborted)) == 500


def test_remote_job_values_are_checked_when_made() -> None:
    with pytest.raises(TypeError, match="JSON"):
        RemoteJob(check="poll", state={"when": object()})
    with pytest.raises(TypeError, match="method"):
        RemoteJob(check=5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="factor"):
        RemoteJob(check="poll", factor=0.5)
    with pytest.raises(ValueError, match="delay"):
        RemoteJob(check="poll", delay=-1)
    with pytest.raises(TypeError, match="progress"):
        RemoteJob(check="poll", progress="half")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="remaining"):
        RemoteJob(check="poll", remaining=float("inf"))
    assert RemoteJob(check="poll", state=(1, 2)).state == [1, 2]


def test_a_remote_job_action_is_described_by_its_jobs_output() -> None:
    assert Analyser.analyse.dump_output(2.5) == 2.5
    with pytest.raises((TypeError, ValueError)):
        Analyser.analyse.dump_output("not a number")


# -- restarts -----------------------------------------------------------------------------


def registry_with(name: str, thing: object) -> ThingRegistry:
    registry = ThingRegistry("Remote lab")
    registry.add(name, thing)  # type: ignore[arg-type]
    return registry


def test_a_restarted_runner_resumes_checking_with_the_same_record(
    tmp_path: Path, analyser: Analyser
) -> None:
    registry = registry_with("analyser", analyser)
    first = TaskRunner(Settings(), data_dir=tmp_path)
    task = start(first, registry.get("analyser"), seconds=1.0, result=2.0, delay=0.02)
    wait_until(lambda: checks(task) >= 2)
    first.shutdown(WAIT)
    first.close()
    before = task.snapshot()
    assert before["status"] == "running"  # a graceful shutdown does not cancel it

    second = TaskRunner(Settings(), data_dir=tmp_path)
    try:
        assert second.interrupted == 0
        assert second.resume_remote_jobs(registry) == 1
        resumed = second.get(task.id)
        record = resumed.snapshot()
        assert record["status"] == "running" and record["checks"] >= before["checks"]
        assert record["timeRequested"] == before["timeRequested"]
        assert record["log"][: len(before["log"])] == before["log"]
        final = finish(resumed)
        assert final["status"] == "completed" and final["output"] == 2.0
        assert final["checks"] > before["checks"]
        assert second.page(limit=10).records[0] == final
    finally:
        second.shutdown(WAIT)
        second.close()
    third = TaskRunner(Settings(), data_dir=tmp_path)
    try:
        assert third.resume_remote_jobs(registry) == 0  # nothing is left to check
        assert third.get(task.id).snapshot() == final
    finally:
        third.close()


def stored_checks(database: Path, task_id: str) -> int:
    """The check count of the job as its store holds it now (-1 if not stored)."""
    with closing(sqlite3.connect(database)) as db:
        row = db.execute("SELECT job FROM remote_jobs WHERE id = ?", (task_id,)).fetchone()
    return -1 if row is None else int(json.loads(row[0])["plan"]["checks"])


def test_a_check_is_stored_before_any_reader_sees_it(tmp_path: Path, analyser: Analyser) -> None:
    runner = TaskRunner(Settings(), data_dir=tmp_path)
    try:
        task = start(
            runner, serve(analyser, "analyser"), seconds=LONG, delay=0.001, max_interval=0.002
        )
        deadline = time.monotonic() + WAIT
        seen = 0
        while seen < 40:  # a check every few ms, each compared as soon as it is seen
            assert time.monotonic() < deadline, f"only {seen} checks in {WAIT} s"
            seen = checks(task)
            assert stored_checks(tmp_path / STATE_FILE, task.id) >= seen
        runner.cancel(task.id, WAIT)
        assert finish(task)["status"] == "cancelled"
    finally:
        runner.shutdown(WAIT)
        runner.close()


@pytest.mark.parametrize(
    ("registry", "detail"),
    [
        (lambda: registry_with("other", Analyser()), "thing 'analyser' is no longer served"),
        (
            lambda: registry_with("analyser", AnalyserWithoutPoll()),
            "AnalyserWithoutPoll 'analyser' has no method 'poll'",
        ),
    ],
    ids=["thing gone", "method gone"],
)
def test_a_job_that_cannot_be_resumed_ends_in_error(
    tmp_path: Path,
    analyser: Analyser,
    registry: Callable[[], ThingRegistry],
    detail: str,
) -> None:
    first = TaskRunner(Settings(), data_dir=tmp_path)
    task = start(first, serve(analyser, "analyser"), seconds=LONG, delay=60)
    first.shutdown(WAIT)
    first.close()
    second = TaskRunner(Settings(), data_dir=tmp_path)
    try:
        assert second.resume_remote_jobs(registry()) == 1
        final = second.get(task.id).snapshot()
        assert final["status"] == "error"
        assert final["error"]["type"] == "urn:labthings:problem:remote-job-lost"
        assert final["error"]["detail"].startswith(detail)
    finally:
        second.close()
