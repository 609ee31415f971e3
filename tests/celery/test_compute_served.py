"""Compute actions on a real Celery worker through a real Redis, over HTTP on a served
instance: output, progress, logs, `pending` while queued, errors, cancel (the worker's
process really stops) and a server restart while a job runs."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from compute_client import LabClient, messages
from redis_server import RedisServer
from served import ROOT, SUPPORT, ServedLab
from sse import collect

TARGET = f"{SUPPORT / 'lab_celery.py'}:make_labthing"
README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def lab(redis: RedisServer, workers: object) -> Iterator[LabClient]:
    served = ServedLab(TARGET, extra=["--celery-broker", redis.url])
    yield LabClient(served.url)
    served.stop()


def lines_in(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines()) if path.exists() else 0


def test_a_compute_action_completes_with_its_output_progress_data_and_log(
    lab: LabClient,
) -> None:
    record = lab.start("average", {"frames": [[1, 2], [3, 4]]}, wait=20)
    assert record["status"] == "completed", record
    assert record["output"] == [2.0, 3.0] and record["error"] is None
    assert record["progress"] == 100 and record["message"] == "frame 2"
    assert record["data"] == {"frames": 2, "invocation": record["id"]}  # current_task() there
    logged = messages(record)
    assert "averaging 2 frames" in logged and "done averaging" in logged
    assert not any("debug" in line for line in logged)  # INFO and above only
    assert any(line.startswith("run by Celery worker celery@") for line in logged)
    assert record["timeStarted"] >= record["timeRequested"]
    assert record["checks"] >= 1 and record["nextCheck"] is None
    scaled = lab.start("average", {"frames": [[1, 2], [3, 4]], "scaled": True}, wait=20)
    assert scaled["output"] == [4.0, 6.0]  # a class attribute, through the worker's bare self


def test_pending_while_queued_then_running_with_progress_on_the_worker(lab: LabClient) -> None:
    first = lab.start("crawl", {"seconds": 1.5})
    queued = lab.start("crawl", {"seconds": 0.6, "step": 0.1})  # one pool process: it waits
    running = lab.until(first["id"], lambda record: (record["progress"] or 0) >= 20)
    assert running["status"] == "running" and running["message"].startswith("step ")
    assert running["estimatedRemaining"] is not None and running["timeStarted"] is not None
    waiting = lab.record(queued["id"])
    assert waiting["status"] == "pending" and waiting["timeStarted"] is None
    assert waiting["message"] == "queued for a Celery worker"
    taken = lab.until(queued["id"], lambda record: record["status"] != "pending")
    assert taken["status"] in ("running", "completed")
    assert lab.final(first["id"])["output"] == 15
    final = lab.final(queued["id"])
    assert final["status"] == "completed" and final["output"] == 6
    assert final["estimatedRemaining"] is None and "crawling for 0.6 s" in messages(final)


def test_live_updates_follow_a_compute_action_from_the_queue_to_its_end(lab: LabClient) -> None:
    busy = lab.start("crawl", {"seconds": 0.5})
    queued = lab.start("average", {"frames": [[1.0], [3.0]]})
    got = collect(
        f"{lab.url}actions/{queued['id']}/events",
        lambda message: message.event == "record" and message.data["status"] == "completed",
        timeout=20,
    )
    statuses = [message.data["status"] for message in got if message.event == "update"]
    assert statuses[0] == "pending" and "running" in statuses
    assert statuses.index("running") > max(i for i, s in enumerate(statuses) if s == "pending")
    lines = [message.data["message"] for message in got if message.event == "log"]
    assert "averaging 2 frames" in lines
    assert got[-1].data["output"] == [2.0]
    assert lab.final(busy["id"])["status"] == "completed"


def test_bad_input_is_refused_before_anything_is_sent(lab: LabClient) -> None:
    before = lab.call("GET", "actions?action=crawl")
    problem = lab.call("POST", "analysis/actions/crawl", 422, json={"seconds": "soon"})
    assert "seconds" in problem["errors"]
    assert lab.call("GET", "actions?action=crawl") == before


def test_an_exception_on_the_worker_is_an_error_with_its_type_and_message(
    lab: LabClient,
) -> None:
    record = lab.start("fail", {"message": "bad frames"}, wait=20)
    assert record["status"] == "error" and record["output"] is None
    assert record["error"]["type"] == "urn:labthings:problem:action-failed"
    assert record["error"]["detail"] == "ValueError: bad frames"
    assert record["error"]["exception"] == "ValueError"
    assert "about to fail" in messages(record)
    assert messages(record)[-1].endswith("failed: ValueError: bad frames")


def test_output_rules_and_the_bare_self_hold_on_the_worker(lab: LabClient) -> None:
    not_json = lab.start("not_json", {}, wait=20)
    assert not_json["status"] == "error"
    assert not_json["error"]["type"] == "urn:labthings:problem:bad-output"
    assert "NaN" in not_json["error"]["detail"]
    instance_state = lab.start("calibrated", {"value": 2.0}, wait=20)
    assert instance_state["status"] == "error"
    assert "has no attribute 'calibration'" in instance_state["error"]["detail"]


def test_log_lines_beyond_what_a_report_carries_are_counted(lab: LabClient) -> None:
    record = lab.start("chatty", {"lines": 500}, wait=20)
    assert record["status"] == "completed" and record["output"] == 500
    lines = [line for line in messages(record) if line.startswith("line ")]
    assert lines[-1] == "line 499"
    missed = [line for line in messages(record) if "were missed" in line]
    counted = sum(int(line.split()[0]) for line in missed)
    assert len(lines) + counted == 500 and counted > 0


def test_delete_terminates_the_action_on_the_worker(lab: LabClient, tmp_path: Path) -> None:
    marker = tmp_path / "crawl.txt"
    started = lab.start("crawl", {"seconds": 60, "marker": str(marker)})
    lab.until(started["id"], lambda record: record["status"] == "running")
    deadline = time.monotonic() + 10
    while lines_in(marker) < 3:
        assert time.monotonic() < deadline, "the worker never wrote"
        time.sleep(0.05)
    record = lab.cancel(started["id"])
    assert record["status"] == "cancelled" and record["cancelRequested"] is True
    time.sleep(1.0)  # the revoke reaches the worker, which terminates the process
    written = lines_in(marker)
    time.sleep(0.6)
    assert lines_in(marker) == written < 100  # it stopped writing
    lab.cancel(started["id"], 409)
    after = lab.start("average", {"frames": [[5.0]]}, wait=20)  # the worker goes on
    assert after["status"] == "completed" and after["output"] == [5.0]


def test_delete_of_a_queued_action_means_it_never_runs(lab: LabClient, tmp_path: Path) -> None:
    marker = tmp_path / "never.txt"
    busy = lab.start("crawl", {"seconds": 1.0})
    queued = lab.start("crawl", {"seconds": 0.3, "marker": str(marker)})
    assert lab.record(queued["id"])["status"] == "pending"
    record = lab.cancel(queued["id"])
    assert record["status"] == "cancelled"
    assert lab.final(busy["id"])["status"] == "completed"
    after = lab.start("average", {"frames": [[1.0]]}, wait=20)  # the queue has moved past it
    assert after["status"] == "completed"
    assert not marker.exists()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["graceful", "kill-9"])
@pytest.mark.timeout(90)
def test_a_restarted_server_picks_up_the_result_of_a_job_that_ran_meanwhile(
    redis: RedisServer, workers: object, tmp_path: Path, stop: signal.Signals
) -> None:
    folder, marker = tmp_path / "data", tmp_path / "crawl.txt"
    extra = ["--celery-broker", redis.url, "--data-dir", str(folder)]
    served = ServedLab(TARGET, extra=extra)
    try:
        lab = LabClient(served.url)
        started = lab.start("crawl", {"seconds": 1.5, "marker": str(marker)})
        before = lab.until(started["id"], lambda record: record["status"] == "running")
    finally:
        served.stop(stop)
    deadline = time.monotonic() + 20
    while lines_in(marker) < 15:  # the worker finishes while no server runs
        assert time.monotonic() < deadline, "the worker did not finish"
        time.sleep(0.1)
    again = ServedLab(TARGET, extra=extra)
    try:
        lab = LabClient(again.url)
        final = lab.final(started["id"])
        assert final["status"] == "completed" and final["output"] == 15
        assert final["timeRequested"] == before["timeRequested"]
        assert "crawling for 1.5 s" in messages(final)
    finally:
        again.stop()


def test_the_example_runs_on_a_worker_as_the_readme_says(
    redis: RedisServer, workers: object
) -> None:
    section = README.split("## Compute on Celery workers", 1)[1].split("\n## ", 1)[0]
    commands = section.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    assert [command.split()[0] for command in commands] == [
        "redis-server",
        ".venv/bin/labthings",
        ".venv/bin/labthings",
    ]
    broker = "--celery-broker redis://127.0.0.1:6379/0"
    assert f"labthings worker {broker} examples/compute.py" in commands[1]  # as the workers
    assert f"labthings serve examples/compute.py:labthing {broker}" in commands[2]
    example = f"{ROOT / 'examples' / 'compute.py'}:labthing"
    served = ServedLab(example, extra=["--celery-broker", redis.url])
    try:
        lab = LabClient(served.url, "stacks")
        record = lab.start("average_stack", {"frames": 20, "size": 64, "seed": 1}, wait=30)
    finally:
        served.stop()
    assert record["status"] == "completed", record
    assert set(record["output"]) == {"peakX", "peakY", "trueX", "trueY", "noise", "snr"}
    assert record["progress"] == 100 and record["message"] == "frame 20 of 20"
    assert messages(record)[0].startswith("run by Celery worker")
    assert "averaging 20 frames of 64 x 64 pixels" in messages(record)
