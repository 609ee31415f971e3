"""Remote jobs over HTTP on a served instance: records, live updates, cancel, restarts
(graceful and `kill -9`) and 500 jobs at once."""

from __future__ import annotations

import itertools
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from served import SUPPORT, ServedLab
from sse import collect

from labthings.core.tasks.workers import WORKERS

TARGET = f"{SUPPORT / 'lab_remote.py'}:make_labthing"
ASYNC = {"Prefer": "respond-async"}


@pytest.fixture(scope="module")
def lab() -> Iterator[ServedLab]:
    served = ServedLab(TARGET)
    yield served
    served.stop()


def call(lab: ServedLab, method: str, path: str, status: int, **options: Any) -> Any:
    """The JSON body of `method path` on `lab`, which must answer `status`."""
    response = requests.request(method, f"{lab.url}{path}", timeout=30, **options)
    assert response.status_code == status, response.text
    return response.json()


def post(lab: ServedLab, body: dict[str, Any], **headers: str) -> dict[str, Any]:
    """Start `analyse` with `body` (answering at once unless `headers` say otherwise)."""
    record: dict[str, Any] = call(
        lab, "POST", "analyser/actions/analyse", 201, json=body, headers=headers or ASYNC
    )
    return record


def record_of(lab: ServedLab, task_id: str) -> dict[str, Any]:
    record: dict[str, Any] = call(lab, "GET", f"actions/{task_id}", 200)
    return record


def aborted(lab: ServedLab) -> list[str]:
    """The names of the jobs whose cancel method was called."""
    names: list[str] = call(lab, "GET", "analyser/properties/aborted", 200)
    return names


def wait_for(
    lab: ServedLab, task_id: str, ok: Callable[[dict[str, Any]], bool], timeout: float = 20
) -> dict[str, Any]:
    """The record once `ok` says yes to it (failing after `timeout` s)."""
    deadline = time.monotonic() + timeout
    while True:
        record = record_of(lab, task_id)
        if ok(record):
            return record
        assert time.monotonic() < deadline, f"not reached in {timeout} s: {record}"
        time.sleep(0.05)


def ended(record: dict[str, Any]) -> bool:
    return record["status"] in ("completed", "cancelled", "error")


def checked(times: int) -> Callable[[dict[str, Any]], bool]:
    return lambda record: (record["checks"] or 0) >= times


def test_a_remote_job_over_http_runs_to_its_output(lab: ServedLab) -> None:
    started = post(lab, {"seconds": 0.8, "result": 7.5, "delay": 0.05, "max_interval": 0.1})
    handed_over = wait_for(lab, started["id"], lambda record: record["checks"] is not None)
    assert handed_over["status"] == "running" and handed_over["nextCheck"] is not None
    final = wait_for(lab, started["id"], ended)
    assert final["status"] == "completed" and final["output"] == 7.5
    assert final["checks"] >= 3 and final["nextCheck"] is None
    waited = post(lab, {"seconds": 0.3, "result": 1.0, "delay": 0.05}, Prefer="wait=10")
    assert waited["status"] == "completed" and waited["output"] == 1.0  # Prefer: wait holds


def test_a_failing_check_is_an_error_record(lab: ServedLab) -> None:
    started = post(lab, {"fail": "the service lost it", "delay": 0.05})
    final = wait_for(lab, started["id"], ended)
    assert final["status"] == "error"
    assert final["error"]["detail"] == "RuntimeError: the service lost it"


def test_delete_calls_the_cancel_method_then_ends_cancelled(lab: ServedLab) -> None:
    started = post(lab, {"seconds": 600, "delay": 0.05, "max_interval": 0.1})
    wait_for(lab, started["id"], checked(2))
    record = call(lab, "DELETE", f"actions/{started['id']}", 200)
    assert record["status"] == "cancelled"
    assert record["log"][0]["message"].split()[-1] in aborted(lab)
    call(lab, "DELETE", f"actions/{started['id']}", 409)


def test_live_updates_carry_each_check_and_the_time_remaining(lab: ServedLab) -> None:
    started = post(
        lab, {"seconds": 1.0, "check": "reporting_poll", "delay": 0.05, "max_interval": 0.1}
    )
    got = collect(
        f"{lab.url}actions/{started['id']}/events",
        lambda message: message.event == "record" and ended(message.data),
        timeout=20,
    )
    updates = [message.data for message in got if message.event == "update"]
    # The stream may open before the action has submitted the job: no checks yet then.
    unsubmitted = list(itertools.takewhile(lambda update: update["checks"] is None, updates))
    updates = updates[len(unsubmitted) :]
    assert all(update["nextCheck"] is None for update in unsubmitted)
    counts = [update["checks"] for update in updates]
    assert counts == sorted(counts) and counts[-1] >= 3
    assert all(update["nextCheck"] is not None for update in updates)
    assert any(update["estimatedRemaining"] is not None for update in updates)
    assert got[-1].data["status"] == "completed" and got[-1].data["estimatedRemaining"] is None


def test_the_documents_describe_checks_and_time_remaining(lab: ServedLab) -> None:
    openapi = call(lab, "GET", "docs/openapi.json", 200)
    members = openapi["components"]["schemas"]["InvocationRecord"]["properties"]
    assert {"checks", "nextCheck", "estimatedRemaining"} <= set(members)
    description = call(lab, "GET", "analyser/", 200)
    assert description["actions"]["analyse"]["output"]["type"] == "number"


# -- restarts -----------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_kill_9_during_checking_then_a_restart_resumes_to_completion(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    lab = ServedLab(TARGET, extra=["--data-dir", str(folder)])
    try:
        started = post(lab, {"seconds": 5, "result": 3.25, "delay": 0.1, "max_interval": 0.3})
        before = wait_for(lab, started["id"], checked(3))
    finally:
        lab.stop(signal.SIGKILL)

    again = ServedLab(TARGET, extra=["--data-dir", str(folder)])
    try:
        resumed = record_of(again, started["id"])
        assert resumed["status"] == "running"
        assert resumed["checks"] >= before["checks"]
        assert resumed["timeRequested"] == before["timeRequested"]
        # the log of each check that ended (one line each, after the submission's) is
        # kept; a check under way at the kill is made again, and logs again
        kept = before["log"][: 1 + before["checks"]]
        assert resumed["log"][: len(kept)] == kept
        final = wait_for(again, started["id"], ended)
        assert final["status"] == "completed" and final["output"] == 3.25
        assert final["checks"] > before["checks"]
        assert final["id"] == started["id"]
    finally:
        again.stop()


@pytest.mark.timeout(120)
def test_a_graceful_restart_resumes_and_a_lost_thing_ends_the_job_in_error(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "data"
    lab = ServedLab(TARGET, extra=["--data-dir", str(folder)])
    try:
        short = post(lab, {"seconds": 3, "result": 2.0, "delay": 0.1, "max_interval": 0.3})
        long = post(lab, {"seconds": 600, "delay": 0.1, "max_interval": 0.3})
        wait_for(lab, short["id"], checked(2))
    finally:
        assert lab.stop(signal.SIGTERM) == 0

    again = ServedLab(TARGET, extra=["--data-dir", str(folder)])
    try:
        assert record_of(again, long["id"])["status"] == "running"  # not cancelled
        final = wait_for(again, short["id"], ended)
        assert final["status"] == "completed" and final["output"] == 2.0
        assert aborted(again) == []
    finally:
        assert again.stop(signal.SIGTERM) == 0

    target = f"{SUPPORT / 'lab_remote.py'}:make_labthing_without_analyser"
    without = ServedLab(target, extra=["--data-dir", str(folder)])
    try:
        lost = record_of(without, long["id"])
        assert lost["status"] == "error"
        assert lost["error"]["type"] == "urn:labthings:problem:remote-job-lost"
        assert "thing 'analyser' is no longer served" in lost["error"]["detail"]
    finally:
        without.stop()


ENGINE_THREADS = "tokio-rt-worker"
"""What Linux names the HTTP engine's own threads, whose number follows the connections."""


def server_threads(lab: ServedLab) -> int:
    """The threads of the server process, but for the HTTP engine's I/O threads."""
    tasks = Path(f"/proc/{lab.process.pid}/task").iterdir()
    names = [(task / "comm").read_text(encoding="utf-8").strip() for task in tasks]
    return sum(1 for name in names if name != ENGINE_THREADS)


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc")
@pytest.mark.timeout(180)
def test_500_remote_jobs_cost_no_thread_each(lab: ServedLab) -> None:
    body = {"seconds": 600, "delay": 0.05, "max_interval": 2}
    with ThreadPoolExecutor(8) as pool:
        warm = list(pool.map(lambda _: post(lab, body), range(16)))  # every thread in use
        time.sleep(0.5)
        before = server_threads(lab)
        started = list(pool.map(lambda _: post(lab, body), range(500)))
        deadline = time.monotonic() + 60
        while True:
            listed = call(lab, "GET", "actions?limit=1000&status=running", 200)
            running = [r for r in listed if r["action"] == "analyse" and r["checks"]]
            if len(running) >= 516 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert len(running) >= 516
        during = server_threads(lab)
        print(f"server threads: {before} before, {during} with {len(running)} remote jobs")
        # The scheduler's threads were running already; task workers left idle after the
        # jobs' short first runs are kept (at most keep_idle): never a thread per job (500).
        assert during - before <= WORKERS.keep_idle + 1
        cancelled = list(
            pool.map(lambda r: call(lab, "DELETE", f"actions/{r['id']}", 200), [*warm, *started])
        )
    assert {record["status"] for record in cancelled} == {"cancelled"}
    assert len(aborted(lab)) >= 516
