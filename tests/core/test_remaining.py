"""Time remaining: the action's own figure, or an estimate from the progress rate."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from core_helpers import finish, start_task

from labthings import update_task_progress
from labthings.core.tasks.progress import MIN_SPAN, RemainingEstimate
from labthings.core.tasks.record import record_schema
from labthings.core.tasks.thread import TaskThread


def test_a_given_figure_counts_down_from_when_it_was_given() -> None:
    estimate = RemainingEstimate()
    estimate.note(10, 60, now=1000.0)
    assert estimate.seconds == 60
    estimate.note(20, None, now=1015.0)  # no new figure: the old one, 15 s on
    assert estimate.seconds == 45
    estimate.note(30, None, now=1100.0)
    assert estimate.seconds == 0  # never below zero
    estimate.note(40, 12.5, now=1101.0)
    assert estimate.seconds == 12.5


def test_without_a_figure_the_rate_of_progress_gives_one() -> None:
    estimate = RemainingEstimate()
    estimate.note(10, None, now=1000.0)
    assert estimate.seconds is None  # one point says nothing of the rate
    estimate.note(12, None, now=1000.0 + MIN_SPAN / 2)
    assert estimate.seconds is None  # too short a span
    estimate.note(20, None, now=1002.0)
    assert estimate.seconds == pytest.approx(80 * 2 / 10)  # 5 %/s, 80 % to go
    estimate.note(20, None, now=1004.0)
    assert estimate.seconds == pytest.approx(80 * 4 / 10)  # slower now


def test_progress_that_goes_back_or_becomes_unknown_starts_the_rate_again() -> None:
    estimate = RemainingEstimate()
    for now, percent in [(0.0, 10.0), (2.0, 50.0)]:
        estimate.note(percent, None, now)
    assert estimate.seconds is not None
    estimate.note(5, None, now=3.0)  # a second phase
    assert estimate.seconds is None
    estimate.note(25, None, now=5.0)
    assert estimate.seconds == pytest.approx(75 * 2 / 20)
    estimate.note(None, None, now=6.0)
    assert estimate.seconds is None


def test_an_action_gives_its_time_remaining_and_it_is_null_when_finished() -> None:
    seen: list[dict[str, Any]] = []
    reported = threading.Event()
    go_on = threading.Event()

    def act() -> None:
        update_task_progress(25, "a quarter", remaining=90)
        reported.set()
        go_on.wait(5)

    task = start_task(act, listener=lambda task, kind, data: seen.append(data))
    assert reported.wait(5)
    record = task.snapshot()
    assert record["estimatedRemaining"] == 90 and record["progress"] == 25
    assert seen[-1]["estimatedRemaining"] == 90  # live updates carry it
    go_on.set()
    assert finish(task)["estimatedRemaining"] is None


def test_an_action_without_a_figure_gets_one_from_its_progress_rate() -> None:
    gate = threading.Event()

    def act() -> None:
        update_task_progress(10)
        gate.wait(MIN_SPAN + 0.2)  # time passes at 10 % per 1.2 s
        update_task_progress(20)
        gate.wait(5)

    task = start_task(act)
    try:
        waited = 0
        while task.snapshot()["progress"] != 20 and waited < 500:
            threading.Event().wait(0.01)
            waited += 1
        remaining = task.snapshot()["estimatedRemaining"]
        assert remaining is not None and 8 < remaining < 100  # 80 % at about 8 %/s
    finally:
        gate.set()
        finish(task)


@pytest.mark.parametrize(
    ("remaining", "error"),
    [(-1, ValueError), (float("nan"), ValueError), ("soon", TypeError), (True, TypeError)],
)
def test_a_bad_time_remaining_is_refused_and_changes_nothing(
    remaining: Any, error: type[Exception]
) -> None:
    task = TaskThread(thing="t", action="a", target=lambda: None, arguments={})
    with pytest.raises(error):
        task.set_progress(10, remaining=remaining)
    assert task.snapshot()["progress"] is None


def test_the_record_schema_describes_the_new_members() -> None:
    properties = record_schema()["properties"]
    assert properties["estimatedRemaining"]["type"] == "number"
    assert properties["estimatedRemaining"]["nullable"] is True
    assert properties["checks"]["type"] == "integer"
    assert properties["nextCheck"]["format"] == "date-time"
