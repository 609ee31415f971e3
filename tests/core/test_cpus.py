"""Which CPUs threads run on (`labthings.core.cpus`), on Linux with two CPUs or more."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest

from labthings.core.cpus import ThreadPinning, every_cpu, process_cpus

pytestmark = pytest.mark.skipif(
    len(process_cpus()) < 2, reason="threads are pinned on Linux, with two CPUs or more"
)


def in_a_thread(work: Callable[[], Any]) -> Any:
    """What `work()` returns, run in a new thread (which may pin itself freely)."""
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(work()))
    thread.start()
    thread.join(30)
    assert result, "the thread failed"
    return result[0]


def own_cpus() -> frozenset[int]:
    return frozenset(os.sched_getaffinity(0))


def test_a_pinned_thread_runs_on_the_chosen_cpu_and_the_rest_of_the_process_does_not() -> None:
    pinning = ThreadPinning()
    assert pinning.cpu in process_cpus()

    def pinned() -> tuple[frozenset[int], frozenset[int], frozenset[int]]:
        pinning.pin()
        pinning.pin()  # a second call changes nothing
        return own_cpus(), in_a_thread(own_cpus), process_cpus()

    mine, its_child_thread, the_process = in_a_thread(pinned)
    assert mine == {pinning.cpu}
    assert its_child_thread == {pinning.cpu}  # threads it starts inherit the CPU
    assert the_process == own_cpus() == process_cpus()  # the main thread keeps them all
    assert len(the_process) >= 2


def test_a_process_started_by_a_pinned_thread_gets_every_cpu() -> None:
    pinning = ThreadPinning()
    show = "import os; print(sorted(os.sched_getaffinity(0)))"

    def start_a_program() -> tuple[frozenset[int], frozenset[int], str]:
        pinning.pin()
        with every_cpu():
            inside = own_cpus()
            printed = subprocess.run(
                [sys.executable, "-c", show], capture_output=True, text=True, timeout=30
            ).stdout
        return inside, own_cpus(), printed

    inside, after, printed = in_a_thread(start_a_program)
    assert inside == process_cpus()
    assert after == {pinning.cpu}  # pinned again once the program has started
    assert printed.strip() == str(sorted(process_cpus()))


def test_every_cpu_changes_nothing_for_a_thread_that_is_not_pinned() -> None:
    with every_cpu():
        assert own_cpus() == process_cpus()
    assert own_cpus() == process_cpus()


def refuse(pid: int, cpus: object) -> None:
    raise OSError(22, "Invalid argument")


def test_a_cpu_that_cannot_be_had_stops_pinning_without_failing_the_request(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    pinning = ThreadPinning()
    chosen = pinning.cpu
    monkeypatch.setattr(os, "sched_setaffinity", refuse)

    def pinned() -> frozenset[int]:
        pinning.pin()  # must not raise: it runs before every request
        return own_cpus()

    assert in_a_thread(pinned) == process_cpus()
    assert pinning.cpu is None  # no further attempts
    assert f"no longer kept on CPU {chosen}" in caplog.text


def test_a_program_still_starts_when_the_cpus_cannot_be_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pinning = ThreadPinning()

    def start_a_program() -> int:
        pinning.pin()
        monkeypatch.setattr(os, "sched_setaffinity", refuse)
        with every_cpu():
            return subprocess.run([sys.executable, "-c", "pass"], timeout=30).returncode

    assert in_a_thread(start_a_program) == 0
