"""Nothing lost: a `kill -9` keeps every finished record and saved property, one server
per data folder, and a shutdown with thousands queued is bounded and tells watchers how
every invocation ended."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from served import SUPPORT, ServedLab
from sse import messages

TARGET = f"{SUPPORT / 'lab_for_tests.py'}:make_labthing"
ASYNC = {"Prefer": "respond-async"}


def post(lab: ServedLab, path: str, body: dict[str, Any], **headers: str) -> dict[str, Any]:
    response = requests.post(f"{lab.url}{path}", json=body, headers=headers, timeout=10)
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()
    return record


def record_of(lab: ServedLab, task_id: str) -> dict[str, Any]:
    response = requests.get(f"{lab.url}actions/{task_id}", timeout=5)
    assert response.status_code == 200, response.text
    record: dict[str, Any] = response.json()
    return record


@pytest.mark.timeout(120)
def test_kill_9_loses_no_finished_record_and_the_rest_come_back_interrupted(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "data"
    lab = ServedLab(TARGET, extra=["--data-dir", str(folder)])
    try:
        finished = [
            post(lab, "calc/actions/add", {"a": n, "b": 0.5}, Prefer="wait=5") for n in range(20)
        ]
        failed = post(lab, "calc/actions/fail", {"message": "on purpose"}, Prefer="wait=5")
        assert {r["status"] for r in finished} == {"completed"} and failed["status"] == "error"
        assert requests.put(f"{lab.url}calc/properties/setpoint", json=42.5, timeout=5).ok
        running = post(lab, "slow/actions/sleep", {"seconds": 60}, **ASYNC)
        pending = [post(lab, "slow/actions/sleep", {"seconds": 1}, **ASYNC) for _ in range(5)]

        second = subprocess.run(
            [sys.executable, "-m", "labthings", "serve", TARGET, "--port", "0"]
            + ["--data-dir", str(folder)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 1
        assert f"process {lab.process.pid}" in second.stderr
        assert "another --data-dir" in second.stderr
        seen = [record_of(lab, r["id"]) for r in [*finished, failed]]
    finally:
        lab.stop(signal.SIGKILL)  # no shutdown at all: the process is just gone

    again = ServedLab(TARGET, extra=["--data-dir", str(folder)])
    try:
        for before in seen:
            after = record_of(again, before["id"])
            unlinked = {key: value for key, value in after.items() if key not in ("href", "links")}
            assert unlinked == {k: v for k, v in before.items() if k not in ("href", "links")}
        for unfinished in [running, *pending]:
            record = record_of(again, unfinished["id"])
            assert record["status"] == "error"
            assert record["error"]["type"] == "urn:labthings:problem:interrupted"
            assert record["timeCompleted"] is not None
        listed = requests.get(f"{again.url}actions?limit=1000", timeout=5).json()
        assert [r["id"] for r in listed][-21:] == [r["id"] for r in reversed(seen)]
        assert requests.get(f"{again.url}calc/properties/setpoint", timeout=5).json() == 42.5
        assert "6 invocation(s) were still pending or running" in again.output
        assert finished[0]["id"] not in {
            r["id"] for r in requests.get(f"{again.url}actions?status=error", timeout=5).json()
        }
    finally:
        again.stop()


@pytest.mark.timeout(180)
def test_shutdown_with_3000_queued_is_bounded_and_every_watcher_hears_every_end(
    tmp_path: Path,
) -> None:
    shutdown_wait = 3.0
    config = tmp_path / "settings.json"
    config.write_text(
        json.dumps(
            {
                "max_pending_per_thing": 5000,
                "max_pending": 5000,
                "shutdown_wait": shutdown_wait,
                "event_queue": 10_000,
            }
        )
    )
    record_file = tmp_path / "record.txt"
    lab = ServedLab(
        TARGET,
        env={"LABTHINGS_TEST_RECORD": str(record_file)},
        extra=["--config", str(config)],
    )
    stopped_at: list[float] = []
    ends: dict[str, str] = {}
    try:
        post(lab, "slow/actions/stubborn", {"seconds": 30}, **ASYNC)  # ignores cancelling
        first = post(lab, "slow/actions/sleep", {"seconds": 60}, **ASYNC)
        url = f"{lab.url}slow/actions/sleep"

        def queue(_: int) -> str:
            response = requests.post(url, json={"seconds": 1}, headers=ASYNC, timeout=30)
            assert response.status_code == 201
            task_id: str = response.json()["id"]
            return task_id

        with ThreadPoolExecutor(8) as pool:
            queued = list(pool.map(queue, range(3000)))

        stream = requests.get(f"{lab.url}actions/events?action=sleep", stream=True, timeout=(5, 30))

        def watch() -> None:
            with stream:
                for message in messages(stream):
                    if message.event == "record":
                        ends[message.data["id"]] = message.data["status"]

        watcher = threading.Thread(target=watch)
        watcher.start()
        time.sleep(0.5)  # the stream is open
        started = time.monotonic()
        lab.process.send_signal(signal.SIGTERM)
        code = lab.process.wait(60)
        stopped_at.append(time.monotonic() - started)
        watcher.join(30)
    finally:
        lab.stop()
    assert code == 0
    assert stopped_at[0] < shutdown_wait + 3  # the bound is shutdown_wait + 1 s; noisy CI
    assert len(ends) == 3001 and set(ends) == {first["id"], *queued}
    assert set(ends.values()) == {"cancelled"}
    assert record_file.read_text().splitlines() == ["enter", "exit"]
    assert "action 'stubborn'" in lab.output and "still running" in lab.output


@pytest.mark.timeout(60)
def test_a_stop_gives_a_cancelled_action_shutdown_wait_to_finish(tmp_path: Path) -> None:
    """SIGTERM cancels at once, but an action that takes a moment to tidy up after its
    cancel finishes before the Things close: its record is `cancelled`, with its log."""
    folder = tmp_path / "data"
    lab = ServedLab(TARGET, extra=["--data-dir", str(folder)])
    try:
        task = post(lab, "slow/actions/tidy", {"tidying": 0.8}, **ASYNC)
        time.sleep(0.3)  # running
        assert lab.stop(signal.SIGTERM) == 0
    finally:
        lab.stop()
    again = ServedLab(TARGET, extra=["--data-dir", str(folder)])
    try:
        record = record_of(again, task["id"])
    finally:
        again.stop()
    assert record["status"] == "cancelled", record
    assert "tidied up" in [line["message"] for line in record["log"]]
