"""`TaskThread`: one invocation's life, record, progress, data and cancellation."""

from __future__ import annotations

import enum
import json
import logging
import math
import threading
import time
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any

import pytest
from core_helpers import WAIT, finish, start_task, wait_until

from labthings import (
    TaskCancelled,
    TaskStatus,
    TaskThread,
    Thing,
    action,
    cancellable_sleep,
    current_task,
    raise_if_cancelled,
    update_task_data,
    update_task_progress,
)
from labthings.core.jsonvalues import to_json_value
from labthings.core.tasks import logs as task_logs

RECORD_KEYS = {
    "id",
    "action",
    "thing",
    "status",
    "progress",
    "message",
    "cancelRequested",
    "data",
    "input",
    "output",
    "error",
    "log",
    "timeRequested",
    "timeStarted",
    "timeCompleted",
    "requestedBy",
    "outputMediaType",
    "estimatedRemaining",
    "checks",
    "nextCheck",
}


def parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    assert moment.utcoffset() == timedelta(0), f"{text} is not in UTC with an offset"
    return moment


# -- life cycle ------------------------------------------------------------------------


def test_a_task_goes_from_pending_to_running_to_completed() -> None:
    release, running = threading.Event(), threading.Event()

    def work() -> str:
        running.set()
        assert release.wait(WAIT)
        return "done"

    task = TaskThread(thing="stage", action="move", target=work, arguments={})
    record = task.snapshot()
    assert record["status"] == "pending" and task.status is TaskStatus.PENDING
    assert record["timeStarted"] is None and record["timeCompleted"] is None
    assert not task.finished

    task.start()
    assert running.wait(WAIT)
    record = task.snapshot()
    assert record["status"] == "running"
    assert record["timeStarted"] is not None and record["timeCompleted"] is None
    assert not task.wait(0)

    release.set()
    record = finish(task)
    assert record["status"] == "completed" and task.finished
    assert record["output"] == "done" and task.output == "done"
    assert record["error"] is None
    assert (record["thing"], record["action"], record["id"]) == ("stage", "move", task.id)


def test_the_record_has_every_field_and_is_json() -> None:
    task = TaskThread(
        thing="stage",
        action="move",
        target=lambda x: x,
        arguments={"x": 1},
        input_record={"x": 1, "y": 0},
    )
    task.start()
    record = finish(task)
    assert set(record) == RECORD_KEYS
    assert to_json_value(record) == record
    assert record["input"] == {"x": 1, "y": 0}
    assert record["data"] == {} and record["log"] == []
    assert record["progress"] is None and record["cancelRequested"] is False


def test_timestamps_are_iso_8601_in_utc_and_ordered() -> None:
    task = start_task(lambda: time.sleep(0.01))
    record = finish(task)
    requested = parse_time(record["timeRequested"])
    started = parse_time(record["timeStarted"])
    completed = parse_time(record["timeCompleted"])
    assert requested <= started <= completed
    assert completed - started >= timedelta(seconds=0.009)
    assert record["timeRequested"].endswith("+00:00")


def test_each_task_has_its_own_id() -> None:
    ids = {TaskThread(thing="t", action="a", target=print, arguments={}).id for _ in range(50)}
    assert len(ids) == 50


def test_the_arguments_are_passed_as_keywords() -> None:
    task = TaskThread(thing="t", action="a", target=lambda x, y: [x, y], arguments={"y": 2, "x": 1})
    task.start()
    assert finish(task)["output"] == [1, 2]


@pytest.mark.parametrize("value", [0, False, "", [], {}, 0.0])
def test_a_falsy_output_is_reported_as_itself(value: Any) -> None:
    record = finish(start_task(lambda: value))
    assert record["status"] == "completed"
    assert record["output"] == value and type(record["output"]) is type(value)


def test_no_return_value_is_a_null_output() -> None:
    record = finish(start_task(lambda: None))
    assert record["status"] == "completed" and record["output"] is None


def test_the_record_is_a_copy() -> None:
    task = start_task(lambda: {"a": [1]})
    record = finish(task)
    record["data"]["x"] = 1
    record["log"].append({})
    fresh = task.snapshot()
    assert fresh["data"] == {} and fresh["log"] == []


# -- errors ----------------------------------------------------------------------------


def test_an_exception_ends_the_task_with_a_problem_object() -> None:
    def fail() -> None:
        raise RuntimeError("the stage hit its limit switch")

    record = finish(start_task(fail))
    assert record["status"] == "error"
    assert record["output"] is None
    error = record["error"]
    assert error["type"].startswith("urn:") and error["title"]
    assert "the stage hit its limit switch" in error["detail"]
    assert error["exception"] == "RuntimeError"
    assert "Traceback" not in str(error) and "File " not in str(error)
    assert record["message"] == "failed"


def test_a_task_that_fails_is_finished_and_never_changes_again() -> None:
    task = start_task(lambda: 1 / 0)
    before = finish(task)
    task.set_progress(50, "late")
    task.update_data({"late": True})
    assert not task.cancel()
    assert task.snapshot() == before


@pytest.mark.parametrize("value", [object(), {1, 2}, math.nan, [math.inf]])
def test_an_output_that_is_not_json_is_an_error(value: Any) -> None:
    record = finish(start_task(lambda: value))
    assert record["status"] == "error"
    assert record["output"] is None
    assert record["error"]["type"] == "urn:labthings:problem:bad-output"
    assert "JSON" in record["error"]["title"]


class Colour(enum.Enum):
    RED = "red"


class Typed(Thing):
    @action
    def colour(self) -> Colour:
        return "red"  # type: ignore[return-value]  # not a Colour

    @action
    def table(self) -> dict[str, float]:
        return [1.0, 2.0]  # type: ignore[return-value]  # not a dict

    @action
    def count(self) -> int:
        return "many"  # type: ignore[return-value]  # not an int


@pytest.mark.parametrize("name", ["colour", "table", "count"])
def test_an_output_its_field_cannot_serialise_is_an_error_not_a_stuck_task(name: str) -> None:
    affordance = Typed.actions()[name]
    task = TaskThread(
        thing="typed",
        action=name,
        target=getattr(Typed(), name),
        arguments={},
        dump_output=affordance.dump_output,
    )
    task.start()
    record = finish(task)
    assert record["status"] == "error"
    assert record["error"]["type"] == "urn:labthings:problem:bad-output"


# -- progress, message and data --------------------------------------------------------


@pytest.mark.parametrize(
    ("percent", "expected"),
    [(0, 0), (33.4, 33), (66.6, 67), (100, 100), (150, 100), (-5, 0), (None, None)],
)
def test_progress_is_rounded_and_clamped(percent: float | None, expected: int | None) -> None:
    reported = threading.Event()

    def work() -> None:
        update_task_progress(percent)
        reported.set()
        cancellable_sleep(WAIT)

    task = start_task(work)
    assert reported.wait(WAIT)
    progress = task.snapshot()["progress"]
    assert progress == expected and (progress is None or type(progress) is int)
    task.cancel()
    finish(task)


def test_progress_message_is_kept_until_replaced() -> None:
    seen: list[tuple[Any, Any]] = []

    def work() -> None:
        task = current_task()
        assert task is not None
        update_task_progress(10, "homing")
        seen.append((task.snapshot()["progress"], task.snapshot()["message"]))
        update_task_progress(20)
        seen.append((task.snapshot()["progress"], task.snapshot()["message"]))
        update_task_progress(30, "x" * 1000)
        seen.append((task.snapshot()["progress"], len(task.snapshot()["message"])))

    record = finish(start_task(work))
    assert seen == [(10, "homing"), (20, "homing"), (30, 500)]
    assert record["progress"] == 100  # completed
    assert record["status"] == "completed"


def test_completed_without_progress_keeps_progress_null() -> None:
    assert finish(start_task(lambda: None))["progress"] is None


@pytest.mark.parametrize("percent", ["50", True, [50]])
def test_progress_that_is_not_a_number_is_a_type_error_inside_a_task(percent: Any) -> None:
    def work() -> None:
        update_task_progress(percent)

    record = finish(start_task(work))
    assert record["status"] == "error"
    assert record["error"]["exception"] == "TypeError"


def test_task_data_is_merged() -> None:
    def work() -> None:
        update_task_data({"position": [0, 0], "phase": "start"})
        update_task_data({"position": [5, 5]})
        update_task_data({})

    record = finish(start_task(work))
    assert record["data"] == {"position": [5, 5], "phase": "start"}


def test_task_data_is_copied_when_given() -> None:
    values: dict[str, Any] = {"points": [1]}

    def work() -> None:
        update_task_data(values)
        values["points"].append(2)

    assert finish(start_task(work))["data"] == {"points": [1]}


@pytest.mark.parametrize(
    ("values", "error"),
    [({"x": object()}, TypeError), ({"x": math.nan}, ValueError), ([("x", 1)], TypeError)],
)
def test_task_data_that_is_not_json_is_refused(values: Any, error: type) -> None:
    raised: list[BaseException] = []

    def work() -> None:
        update_task_data({"ok": 1})
        try:
            update_task_data(values)
        except Exception as caught:
            raised.append(caught)

    record = finish(start_task(work))
    assert len(raised) == 1 and isinstance(raised[0], error)
    assert record["data"] == {"ok": 1}
    assert record["status"] == "completed"


# -- current_task and the helpers outside a task ---------------------------------------


def test_current_task_is_the_running_task_inside_and_none_outside() -> None:
    seen: list[TaskThread | None] = []
    task = start_task(lambda: seen.append(current_task()))
    finish(task)
    assert seen == [task]
    assert current_task() is None


def test_current_task_is_none_in_other_threads() -> None:
    seen: list[TaskThread | None] = []
    thread = threading.Thread(target=lambda: seen.append(current_task()))
    thread.start()
    thread.join(WAIT)
    assert seen == [None]


def test_the_helpers_do_nothing_and_never_raise_outside_a_task() -> None:
    update_task_progress(50, "halfway")
    update_task_progress(None)
    update_task_progress("not a number")  # type: ignore[arg-type]
    update_task_progress(math.nan)
    update_task_data({"x": 1})
    update_task_data({"x": object()})
    update_task_data("not a mapping")  # type: ignore[arg-type]
    raise_if_cancelled()
    started = time.monotonic()
    cancellable_sleep(0.01)
    cancellable_sleep(-1)
    assert 0.009 <= time.monotonic() - started < 1


# -- cancellation ----------------------------------------------------------------------


def test_cancelling_a_task_in_cancellable_sleep_stops_it_at_once() -> None:
    sleeping = threading.Event()

    def work() -> str:
        sleeping.set()
        cancellable_sleep(30)
        return "should not get here"

    task = start_task(work)
    assert sleeping.wait(WAIT)
    started = time.monotonic()
    assert task.cancel()
    assert task.wait(WAIT)
    assert time.monotonic() - started < 2
    record = task.snapshot()
    assert record["status"] == "cancelled"
    assert record["output"] is None and record["error"] is None
    assert record["cancelRequested"] is True
    assert record["timeCompleted"] is not None


def test_raise_if_cancelled_stops_a_loop_at_its_next_check() -> None:
    steps: list[int] = []
    looping = threading.Event()

    def work() -> None:
        for step in range(1_000_000):
            steps.append(step)
            looping.set()
            raise_if_cancelled()
            time.sleep(0.001)

    task = start_task(work)
    assert looping.wait(WAIT)
    task.cancel()
    assert finish(task)["status"] == "cancelled"
    count = len(steps)
    time.sleep(0.01)
    assert len(steps) == count < 1_000_000


def test_a_task_that_catches_nothing_but_raises_task_cancelled_is_cancelled() -> None:
    def work() -> None:
        raise TaskCancelled("gave up")

    assert finish(start_task(work))["status"] == "cancelled"


def test_a_task_that_ignores_cancellation_keeps_running_and_says_so() -> None:
    running, release = threading.Event(), threading.Event()

    def work() -> int:
        running.set()
        assert release.wait(WAIT)  # never checks for cancellation
        return 0

    task = start_task(work)
    assert running.wait(WAIT)
    assert task.cancel()
    assert not task.wait(0.05)
    record = task.snapshot()
    assert record["status"] == "running"
    assert record["cancelRequested"] is True
    assert record["message"] == "cancellation requested"
    assert task.is_alive()

    release.set()
    record = finish(task)
    assert record["status"] == "completed"
    assert record["output"] == 0
    assert record["cancelRequested"] is True
    assert record["message"] is None  # no longer "cancellation requested": it completed


def test_a_task_that_ignores_cancellation_keeps_its_own_last_message() -> None:
    running, release = threading.Event(), threading.Event()

    def work() -> int:
        update_task_progress(90, "almost there")
        running.set()
        assert release.wait(WAIT)
        return 1

    task = start_task(work)
    assert running.wait(WAIT)
    task.cancel()
    task.cancel()  # twice: the action's message must still come back
    release.set()
    assert finish(task)["message"] == "almost there"


def test_cancelling_twice_is_harmless_while_it_runs() -> None:
    running = threading.Event()

    def work() -> None:
        running.set()
        cancellable_sleep(WAIT)

    task = start_task(work)
    assert running.wait(WAIT)
    assert task.cancel()
    task.cancel()  # may be True or False depending on timing, must not raise
    assert finish(task)["status"] == "cancelled"


@pytest.mark.parametrize("outcome", ["completed", "error", "cancelled"])
def test_cancelling_a_finished_task_returns_false_and_changes_nothing(outcome: str) -> None:
    def work() -> int:
        if outcome == "error":
            raise ValueError("bad")
        if outcome == "cancelled":
            raise TaskCancelled()
        return 0

    task = start_task(work)
    before = finish(task)
    assert before["status"] == outcome
    assert not task.cancel()
    assert task.snapshot() == before
    assert task.cancel_requested is False


def test_a_task_cancelled_before_it_starts_never_runs() -> None:
    ran = threading.Event()
    task = TaskThread(thing="t", action="a", target=ran.set, arguments={})
    assert task.cancel()
    record = task.snapshot()
    assert record["status"] == "cancelled"
    assert record["timeStarted"] is None and record["timeCompleted"] is not None
    assert task.wait(0)
    task.start()
    task.join(WAIT)
    assert not ran.is_set()
    assert task.snapshot() == record


_LEFT_BEHIND: ContextVar[str] = ContextVar("left_behind", default="nothing")


def test_a_task_runs_on_a_daemon_thread_named_after_its_action_in_a_fresh_context() -> None:
    seen: list[tuple[str, bool, str]] = []

    def move() -> None:
        thread = threading.current_thread()
        seen.append((thread.name, thread.daemon, _LEFT_BEHIND.get()))
        _LEFT_BEHIND.set("a value set by an earlier task")

    for _ in range(3):  # later tasks may reuse the first one's thread
        task = start_task(move)
        assert "move" in task.name
        finish(task)
        task.join(WAIT)
        assert not task.is_alive()
    assert [
        (name.startswith("labthings-task-move-"), daemon, left) for name, daemon, left in seen
    ] == [(True, True, "nothing")] * 3


def test_many_tasks_run_at_once() -> None:
    barrier = threading.Barrier(10, timeout=WAIT)
    tasks = [start_task(barrier.wait) for _ in range(10)]
    for task in tasks:
        assert finish(task)["status"] == "completed"
    wait_until(lambda: not any(task.is_alive() for task in tasks))


# -- telling listeners -----------------------------------------------------------------


def test_listeners_see_changes_in_the_order_they_happened() -> None:
    # The progress update's listener call is slow; a cancel made meanwhile must not
    # overtake it: watchers would otherwise see cancelRequested go true, then false.
    seen: list[dict[str, Any]] = []
    slow_call = threading.Event()

    def listener(task: TaskThread, kind: str, data: dict[str, Any]) -> None:
        if kind == "update" and data["progress"] == 50 and not data["cancelRequested"]:
            slow_call.set()
            time.sleep(0.3)
        seen.append({"kind": kind, **data})

    release = threading.Event()

    def work() -> None:
        update_task_progress(50)
        assert release.wait(WAIT)

    task = start_task(work, listener=listener)
    assert slow_call.wait(WAIT)
    canceller = threading.Thread(target=task.cancel)
    canceller.start()
    canceller.join(WAIT)
    release.set()
    finish(task)
    flags = [entry["cancelRequested"] for entry in seen if entry["kind"] != "log"]
    assert flags == sorted(flags), flags  # once true, never false again
    assert seen[-1]["kind"] == "record"


def test_a_failing_listener_is_logged_and_still_told_the_finish(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kinds: list[str] = []
    failures = iter([True])

    def listener(task: TaskThread, kind: str, data: dict[str, Any]) -> None:
        if next(failures, False):
            raise RuntimeError("listener broke once")
        kinds.append(kind)

    def work() -> None:
        update_task_progress(10)
        update_task_progress(20)

    task = start_task(work, listener=listener)
    finish(task)
    assert kinds[-1] == "record"  # the finish reached the listener after its failure
    assert "update" in kinds
    assert any("listener failed" in record.getMessage() for record in caplog.records)


def test_a_bad_output_is_logged_on_the_console_with_the_fix(
    caplog: pytest.LogCaptureFixture,
) -> None:
    record = finish(start_task(lambda: {1, 2}))
    assert record["status"] == "error"
    (logged,) = [r for r in caplog.records if "cannot be sent as JSON" in r.getMessage()]
    assert logged.levelno == logging.ERROR
    assert "return type" in logged.getMessage()


def test_a_finished_task_ignores_later_log_records() -> None:
    task = start_task(lambda: None)
    before = finish(task)
    task.add_log(logging.LogRecord("late", logging.INFO, __file__, 1, "too late", None, None))
    assert task.snapshot() == before


# -- strict JSON -----------------------------------------------------------------------


@pytest.mark.parametrize("output", ["\ud800", ["ok", {"k": "x\udfff"}], {"\ud800": 1}])
def test_an_output_with_a_lone_surrogate_is_an_error_record(output: Any) -> None:
    record = finish(start_task(lambda: output))
    assert record["status"] == "error"
    assert "surrogate" in record["error"]["detail"]
    json.dumps(record).encode("utf-8")  # the record itself is always sendable


def test_messages_logs_and_failures_with_lone_surrogates_are_cleaned() -> None:
    task_logs.install()

    def work() -> None:
        update_task_progress(10, "bad \ud800 message")
        logging.getLogger("instrument").warning("bad \udfff log")
        raise RuntimeError("bad \ud83d detail")

    record = finish(start_task(work))
    text = json.dumps(record, ensure_ascii=False)
    text.encode("utf-8")  # no lone surrogate left anywhere
    assert "bad \ufffd log" in [entry["message"] for entry in record["log"]]
    assert record["error"]["detail"] == "RuntimeError: bad \ufffd detail"


def test_a_log_message_that_cannot_be_formatted_never_breaks_the_action(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = logging.LogRecord("instrument", logging.WARNING, __file__, 1, "%d apples", ("x",), None)

    def work() -> str:
        task_logs.TaskLogHandler().handle(bad)  # as logging would call it
        return "done"

    assert finish(start_task(work))["output"] == "done"
    assert "Logging error" in capsys.readouterr().err  # reported as logging reports it
