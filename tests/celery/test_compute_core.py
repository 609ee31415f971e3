"""Compute actions without a running Redis: declaring them, running them in-process when
no Celery is configured, configuration errors, a broker that cannot be reached, the
worker-side reporter and the server-side report reading, and labthings without Celery."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from collections import deque
from typing import Any

import pytest
from celery import Celery
from lab_celery import Analysis, make_labthing
from redis_server import free_port
from served import ROOT, SUPPORT

from labthings import Blob, ConfigurationError, LabThing, RemoteJob, Thing, action
from labthings.celery.app import action_ref, resolve
from labthings.celery.report import ReportSeen, apply
from labthings.celery.worker import Reporter
from labthings.core.tasks.record import TaskState, TaskStatus
from labthings.core.tasks.thread import TaskThread, acting_as
from labthings.serving.cli import main

UNREACHABLE = "urn:labthings:problem:compute-unreachable"
README = (ROOT / "README.md").read_text(encoding="utf-8")


# -- declaring -----------------------------------------------------------------------------


def test_a_compute_action_takes_no_instrument_lock_and_names_a_known_executor() -> None:
    assert Analysis.actions()["average"].lock is False
    assert Analysis.actions()["average"].executor == "celery"
    assert Analysis.actions()["local"].lock is True
    with pytest.raises(ConfigurationError, match="unknown executor 'gpu'; use one of thread"):
        action(executor="gpu")(lambda self: None)
    with pytest.raises(ConfigurationError, match="cannot take the instrument lock"):
        action(executor="celery", lock=True)(lambda self: None)


@pytest.mark.parametrize("returns", [Blob, RemoteJob[float]])
def test_a_compute_action_returns_json_values(returns: object) -> None:
    def compute(self: object) -> Any:
        return None

    compute.__annotations__["return"] = returns
    with pytest.raises(ConfigurationError, match="returns JSON values, not a Blob or a RemoteJob"):
        action(executor="celery")(compute)


# -- without Celery configured -------------------------------------------------------------


def test_without_celery_a_compute_action_runs_in_a_server_thread() -> None:
    with make_labthing() as labthing:
        client = labthing.create_app().test_client()
        record = client.post("/analysis/actions/average", json={"frames": [[1, 2], [3, 5]]})
        assert record.status_code == 201
        assert record.get_json()["output"] == [2.0, 3.5]
        assert "averaging 2 frames" in [entry["message"] for entry in record.get_json()["log"]]
        local = client.post("/analysis/actions/calibrated", json={"value": 3})
        assert local.get_json()["output"] == 3.0  # here `self` is the served instance
        description = client.get("/analysis/").get_json()
        assert set(description["actions"]) >= {"average", "crawl", "local"}


def test_the_readme_example_is_a_compute_action_that_runs_here_without_celery() -> None:
    section = README.split("## Compute on Celery workers", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(compile(code, "README compute example", "exec"), namespace)
    labthing = LabThing()
    labthing.add_thing("stacks", namespace["StackAnalysis"]())
    assert labthing.thing("stacks").actions()["average_stack"].executor == "celery"
    with labthing:
        client = labthing.create_app().test_client()
        body = {"frames": [[1.0, 2.0], [3.0, 6.0]]}
        record = client.post("/stacks/actions/average_stack", json=body).get_json()
    assert record["status"] == "completed" and record["output"] == [2.0, 4.0]


class HeldExecutor:
    """An executor whose jobs stay queued until `done` is set (the runner's side of the
    hook, without Celery); their output is 42."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.sent: list[dict[str, Any]] = []

    def submit(self, thing: object, affordance: Any, arguments: dict[str, Any]) -> Any:
        self.sent.append(arguments)
        return RemoteJob(check=self.check, state={}, delay=0.01, max_interval=0.05)

    def check(self, state: dict[str, Any]) -> Any:
        return 42 if self.done.is_set() else RemoteJob(check=self.check, state=state)

    def close(self) -> None:
        """Nothing to let go of."""


def test_sent_invocations_stay_pending_and_count_toward_the_pending_cap() -> None:
    labthing = LabThing(max_pending_per_thing=2)
    labthing.add_thing("analysis", Analysis())
    executor = HeldExecutor()
    labthing.runner.executors["celery"] = executor
    with labthing:
        client = labthing.create_app().test_client()
        async_ = {"Prefer": "respond-async"}
        started = [
            client.post("/analysis/actions/crawl", json={"seconds": 1}, headers=async_)
            for _ in range(2)
        ]
        assert [response.status_code for response in started] == [201, 201]
        deadline = time.monotonic() + 10
        while len(executor.sent) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        records = [client.get(f"/actions/{r.get_json()['id']}").get_json() for r in started]
        assert [record["status"] for record in records] == ["pending", "pending"]
        assert all(record["timeStarted"] is None for record in records)
        refused = client.post("/analysis/actions/crawl", json={"seconds": 1}, headers=async_)
        assert refused.status_code == 503
        assert executor.sent == [{"seconds": 1, "marker": "", "step": 0.1}] * 2
        executor.done.set()
        for response in started:
            href = f"/actions/{response.get_json()['id']}"
            while (final := client.get(href).get_json())["status"] == "pending":
                assert time.monotonic() < deadline + 10
                time.sleep(0.01)
            assert final["status"] == "completed" and final["output"] == 42


# -- configuring ---------------------------------------------------------------------------


def test_celery_is_configured_with_a_broker_url_or_a_celery_app() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(ConfigurationError, match="a broker URL or a Celery app, not int"):
        LabThing(celery=42)
    with pytest.raises(ConfigurationError, match="has no result backend"):
        LabThing(celery=Celery("mine", broker=url, set_as_current=False))
    app = Celery("mine", broker=url, backend=url, set_as_current=False)
    with pytest.raises(ConfigurationError, match="in the Celery app's settings"):
        LabThing().use_celery(app, backend=url)
    labthing = LabThing(celery=app)  # connects to nothing yet
    labthing.create_app()
    with pytest.raises(ConfigurationError, match="after the app has been built"):
        labthing.use_celery(url)


@pytest.mark.timeout(30)
def test_a_broker_that_cannot_be_reached_ends_the_invocation_in_error_not_a_hang() -> None:
    labthing = LabThing(celery=f"redis://127.0.0.1:{free_port()}/0")  # nothing listens
    labthing.add_thing("analysis", Analysis())
    with labthing:
        client = labthing.create_app().test_client()
        began = time.monotonic()
        response = client.post(
            "/analysis/actions/average", json={"frames": [[1.0]]}, headers={"Prefer": "wait=20"}
        )
        record = response.get_json()
        assert time.monotonic() - began < 15  # ended by itself, not by the POST's wait
    assert record["status"] == "error"
    assert record["error"]["type"] == UNREACHABLE
    assert record["error"]["detail"].startswith("could not send the action to the broker redis:")


def test_a_thing_class_a_worker_cannot_import_is_refused_when_sent() -> None:
    class Hidden(Thing):
        @action(executor="celery")
        def compute(self) -> int:
            return 1

    with pytest.raises(ConfigurationError, match="define it at the top level of a module"):
        action_ref(Hidden, "compute", "hidden")
    labthing = LabThing(celery=f"redis://127.0.0.1:{free_port()}/0")
    labthing.add_thing("hidden", Hidden())
    with labthing:
        client = labthing.create_app().test_client()
        record = client.post("/hidden/actions/compute", headers={"Prefer": "wait=10"}).get_json()
    assert record["status"] == "error" and "define it at the top level" in record["error"]["detail"]


def test_a_worker_runs_only_compute_actions_of_modules_it_has_loaded() -> None:
    ref = action_ref(Analysis, "average", "analysis")
    assert resolve(ref) == (Analysis, Analysis.actions()["average"])
    cases = {
        "has not loaded the module 'nowhere'": {**ref, "module": "nowhere"},
        "has no Thing class 'Path'": {**ref, "qualname": "Path"},
        "has no compute action 'local'": {**ref, "action": "local"},
        "the task names no action": ["average"],
    }
    for message, wrong in cases.items():
        with pytest.raises(LookupError, match=message):
            resolve(wrong)


# -- the worker's reports, and reading them ------------------------------------------------


def quiet_task(task_id: str, listener: Any = None) -> TaskThread:
    """A task record that is never run (as the worker keeps one), told to `listener`."""
    state = TaskState(id=task_id, thing="analysis", action="crawl", input={}, log=deque())
    return TaskThread.resumed(state, 0, listener=listener)


def test_the_reporter_reports_at_start_on_changes_and_as_a_heartbeat() -> None:
    stored: list[dict[str, Any]] = []
    reporter = Reporter(stored.append, worker="celery@test", every=0.02, heartbeat=0.2)
    task = quiet_task("i-1", reporter.listener)
    reporter.start(task)
    assert len(stored) == 1 and stored[0]["beat"] == 1 and stored[0]["worker"] == "celery@test"
    with acting_as(task):
        task.set_progress(50, "half", remaining=4.0)
        logging.getLogger("lab_celery").info("a line from the action")
    deadline = time.monotonic() + 5
    while not any(report["progress"] == 50 for report in stored):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    changed = next(report for report in stored if report["progress"] == 50)
    assert changed["message"] == "half" and changed["remaining"] == 4.0
    while len(stored) < 4:  # nothing changes: heartbeats go on
        assert time.monotonic() < deadline
        time.sleep(0.01)
    last = reporter.stop()
    count = len(stored)
    time.sleep(0.1)
    assert len(stored) == count  # nothing is stored once stopped
    assert last["beat"] > stored[-1]["beat"] and last["logged"] == 1
    assert last["log"][0]["message"] == "a line from the action"
    assert [report["beat"] for report in stored] == sorted({r["beat"] for r in stored})


def entries(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "levelname": "INFO",
            "levelno": logging.INFO,
            "message": f"line {index}",
            "created": "2026-01-01T00:00:00+00:00",
            "logger": "lab_celery",
        }
        for index in range(start, start + count)
    ]


def test_reading_reports_copies_new_log_lines_once_and_counts_missed_ones() -> None:
    task = quiet_task("i-3")
    seen: ReportSeen = {"logged": 0, "shown": [None, None, None]}
    report = {"progress": 10, "message": "m", "remaining": 9.0, "data": {"a": 1}}
    apply(task, {**report, "log": entries(3), "logged": 3, "started": 1.0}, seen, now=2.0)
    apply(task, {**report, "log": entries(5), "logged": 5}, seen, now=3.0)
    apply(task, {**report, "log": entries(200, 300), "logged": 500}, seen, now=4.0)
    record = task.snapshot()
    messages = [entry["message"] for entry in record["log"]]
    assert messages[:5] == [f"line {index}" for index in range(5)]
    assert "295 log line(s) of the worker were missed" in messages[5]
    assert messages[6:] == [f"line {index}" for index in range(300, 500)]
    assert record["status"] == "running" and record["timeStarted"].startswith("1970-01-01")
    assert record["progress"] == 10 and record["data"] == {"a": 1}
    assert record["log"][0]["created"] == "2026-01-01T00:00:00+00:00"  # the worker's time
    assert seen == {"logged": 500, "shown": [10, "m", 9.0]}
    assert task.status is TaskStatus.RUNNING


# -- without Celery installed --------------------------------------------------------------

_WITHOUT_CELERY = """
import sys
for name in ("celery", "kombu", "redis"):
    sys.modules[name] = None  # as if not installed
from lab_celery import make_labthing
labthing = make_labthing()
with labthing:
    client = labthing.create_app().test_client()
    record = client.post("/analysis/actions/average", json={"frames": [[4.0]]}).get_json()
assert record["output"] == [4.0], record
from labthings import LabThing
try:
    LabThing(celery="redis://127.0.0.1:6379/0")
except Exception as error:
    print(error)
from labthings.serving.cli import main
sys.exit(main(["worker", "--celery-broker", "redis://127.0.0.1:6379/0", "lab_celery"]))
"""


@pytest.mark.timeout(60)
def test_labthings_runs_without_celery_installed() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_CELERY],
        cwd=SUPPORT,
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert done.returncode == 2, done.stderr
    assert "compute actions on Celery need celery: pip install 'labthings[celery]'" in done.stdout
    assert "labthings: the worker needs celery: pip install 'labthings[celery]'" in done.stderr


def test_the_worker_command_refuses_a_bad_target_or_concurrency(
    capsys: pytest.CaptureFixture[str],
) -> None:
    broker = ["--celery-broker", "redis://127.0.0.1:6379/0"]
    assert main(["worker", *broker, str(ROOT / "no_such_lab.py")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["worker", *broker, "--concurrency", "0", "lab_celery"]) == 2
    assert "--concurrency must be at least 1" in capsys.readouterr().err


def test_reports_from_threads_that_log_together_keep_every_line() -> None:
    stored: list[dict[str, Any]] = []
    reporter = Reporter(stored.append, worker="w", every=0.01, heartbeat=1.0)
    task = quiet_task("i-2", reporter.listener)
    reporter.start(task)

    def log_lines() -> None:
        with acting_as(task):
            for index in range(50):
                logging.getLogger("lab_celery").info("line %d", index)

    threads = [threading.Thread(target=log_lines) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    last = reporter.stop()
    assert last["logged"] == 200 and len(last["log"]) == 200
