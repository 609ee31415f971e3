"""The client when the server goes away under it: a wait regains the stream after a
restart and learns the outcome, says when the invocation is gone, and gives up after
its patience; a property stream carries on after a restart."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from client_support import CLIENT_LAB, eventually
from served import ServedLab

from labthings.client import (
    Invocation,
    InvocationFailed,
    InvocationGone,
    Reconnect,
    ServerUnreachable,
    ThingClient,
)


class Waiter:
    """`invocation.wait()` on a thread, after it has seen the invocation make progress."""

    def __init__(self, invocation: Invocation) -> None:
        self.invocation = invocation
        self.progressed = threading.Event()
        self.outcome: Any = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self.progressed.wait(10), "the invocation made no progress"

    def _run(self) -> None:
        try:
            for update in self.invocation.updates():
                if update.progress:
                    self.progressed.set()
            self.outcome = self.invocation.wait()
        except Exception as error:  # the outcome the test checks
            self.outcome = error

    def result(self, timeout: float = 60) -> Any:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the wait did not end"
        return self.outcome


@pytest.fixture
def servers() -> Iterator[Callable[..., ServedLab]]:
    """Start ServedLabs of the client lab; every one is stopped at the end."""
    started: list[ServedLab] = []

    def start(*extra: str, port: int = 0) -> ServedLab:
        lab = ServedLab(CLIENT_LAB, extra=extra, port=port)
        started.append(lab)
        return lab

    yield start
    for lab in started:
        lab.stop()


def test_a_wait_survives_a_kill_and_restart_and_learns_it_was_interrupted(
    servers: Callable[..., ServedLab], tmp_path: Path
) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    first = servers(*data)
    slow = ThingClient.from_url(f"{first.url}slow/", reconnect=Reconnect(patience=30))
    waiter = Waiter(slow.sleep(seconds=30))
    first.stop(signal.SIGKILL)
    servers(*data, port=first.port)
    error = waiter.result()
    assert isinstance(error, InvocationFailed), error
    assert error.problem["type"] == "urn:labthings:problem:interrupted"
    assert error.record["id"] == waiter.invocation.id


def test_a_wait_says_when_the_restarted_server_no_longer_knows_the_invocation(
    servers: Callable[..., ServedLab],
) -> None:
    first = servers("--ephemeral")
    slow = ThingClient.from_url(f"{first.url}slow/", reconnect=Reconnect(patience=30))
    waiter = Waiter(slow.sleep(seconds=30))
    first.stop(signal.SIGKILL)
    servers("--ephemeral", port=first.port)
    error = waiter.result()
    assert isinstance(error, InvocationGone), error
    assert "no longer knows" in str(error) and waiter.invocation.id in str(error)


def test_a_wait_gives_up_when_the_server_stays_away(servers: Callable[..., ServedLab]) -> None:
    first = servers("--ephemeral")
    slow = ThingClient.from_url(f"{first.url}slow/", reconnect=Reconnect(patience=1.0))
    waiter = Waiter(slow.sleep(seconds=30))
    first.stop(signal.SIGKILL)
    error = waiter.result(timeout=30)
    assert isinstance(error, ServerUnreachable), error
    assert "could not regain it within 1 s" in str(error)


def test_a_property_stream_carries_on_after_a_restart(
    servers: Callable[..., ServedLab], tmp_path: Path
) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    first = servers(*data)
    calc = ThingClient.from_url(f"{first.url}calc/", reconnect=Reconnect(patience=30))
    calc.setpoint = 1.0  # saved in the data folder
    with calc.observe_property("setpoint") as values:
        assert next(values) == 1.0
        first.stop(signal.SIGKILL)
        second = servers(*data, port=first.port)
        # The stream reconnects by itself and hears the value as the new server has it.
        assert next(values) == 1.0
        ThingClient.from_url(f"{second.url}calc/").setpoint = 2.0
        assert next(values) == 2.0
    eventually(lambda: calc.setpoint == 2.0, what="reading after the restart")
