"""A served instance keeps its request and task threads on one CPU (`labthings.core.cpus`),
and the programs its actions run on every CPU; `--all-cpus` spreads the threads."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from served import SUPPORT, ServedLab

from labthings.core.cpus import process_cpus

TARGET = f"{SUPPORT / 'lab_programs.py'}:make_labthing"
SHARED = re.compile(r"request and task threads share CPU (\d+)")
EVERY_CPU = sorted(process_cpus())

pytestmark = pytest.mark.skipif(
    len(EVERY_CPU) < 2, reason="threads are pinned on Linux, with two CPUs or more"
)


@pytest.fixture(scope="module")
def pinned() -> Iterator[ServedLab]:
    lab = ServedLab(TARGET, extra=["--ephemeral"])
    yield lab
    lab.stop()


def output(lab: ServedLab, action: str, body: dict[str, Any] | None = None) -> Any:
    response = requests.post(
        f"{lab.url}analysis/actions/{action}", json=body or {}, headers={"Prefer": "wait=10"}
    )
    record = response.json()
    assert record["status"] == "completed", record
    return record["output"]


def threads_cpus(pid: int) -> dict[int, str]:
    """The `Cpus_allowed_list` of each thread of process `pid`, by thread id."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        status = (task / "status").read_text()
        found[int(task.name)] = re.search(r"Cpus_allowed_list:\s*(\S+)", status).group(1)  # type: ignore[union-attr]
    return found


def test_request_and_task_threads_share_the_cpu_the_log_names(pinned: ServedLab) -> None:
    match = SHARED.search(pinned.output)
    assert match, pinned.output
    cpu = int(match.group(1))
    assert cpu in EVERY_CPU
    assert output(pinned, "cpus") == [cpu]  # the task's thread
    threads = threads_cpus(pinned.process.pid)
    assert threads.pop(pinned.process.pid) != str(cpu)  # the main thread keeps every CPU
    assert list(threads.values()).count(str(cpu)) >= 2  # a request thread and a worker


def test_a_program_an_action_runs_gets_every_cpu(pinned: ServedLab) -> None:
    assert output(pinned, "run", {"mode": "cpus"}) == ",".join(map(str, EVERY_CPU))


def test_all_cpus_leaves_every_thread_on_every_cpu() -> None:
    lab = ServedLab(TARGET, extra=["--ephemeral", "--all-cpus"])
    try:
        assert output(lab, "cpus") == EVERY_CPU
        assert not SHARED.search(lab.output)
        threads = threads_cpus(lab.process.pid)
        assert set(threads.values()) == {threads[lab.process.pid]}  # the main thread's
    finally:
        lab.stop()
