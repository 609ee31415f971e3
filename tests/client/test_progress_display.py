"""What `labthings call` shows while an action runs: plain lines when not on a terminal,
the time left from the server's estimate (`estimatedRemaining`) or from the rate."""

from __future__ import annotations

import io
from typing import Any

import pytest

from labthings.client import Connection, Invocation, Update
from labthings.client.progress import duration, progress_display


def update(
    status: str = "running", progress: Any = None, message: Any = None, left: Any = None
) -> Update:
    return Update(status, progress, message, left, {})


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.2, "<1 s"), (42.4, "42 s"), (125, "2 min 05 s"), (7620, "2 h 07 min")],
)
def test_durations_read_as_people_say_them(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_without_a_terminal_each_change_of_status_is_a_line() -> None:
    stream = io.StringIO()
    display = progress_display("stage.move", stream)
    display.show(update("pending"))
    display.show(update(progress=10, message="at 10", left=125))
    display.show(update(progress=20, message="at 20", left=100))  # within a second: skipped
    display.show(update("completed", 100, "done"))
    display.close()
    assert stream.getvalue().splitlines() == [
        "stage.move: pending",
        "stage.move: running 10% (at 10, 2 min 05 s left)",
        "stage.move: completed 100% (done)",
    ]


def test_without_an_estimate_the_time_left_comes_from_the_rate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [100.0]
    monkeypatch.setattr("labthings.client.progress.time.monotonic", lambda: now[0])
    stream = io.StringIO()
    display = progress_display("slow.sleep", stream)
    display.show(update(progress=10))  # the first report: no rate yet
    now[0] = 110.0
    display.show(update(progress=30))  # 20 % in 10 s: 70 % in 35 s
    display.show(update("completed", 100))  # a finished invocation has no time left
    assert stream.getvalue().splitlines() == [
        "slow.sleep: running 10%",
        "slow.sleep: running 30% (35 s left)",
        "slow.sleep: completed 100%",
    ]


def test_the_invocation_reads_the_servers_estimate() -> None:
    record = {"id": "x", "status": "running", "estimatedRemaining": 3.5, "progress": 40}
    invocation = Invocation(Connection(), record, url=None)
    assert invocation.estimated_remaining == 3.5
    assert repr(invocation) == "<Invocation  x running 40%>"
