"""A served lab with a full queue: 503 past the cap, no thread per waiting task, and a
SIGTERM that still stops it with the queue full."""

from __future__ import annotations

import os
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from served import SUPPORT, ServedLab

TARGET = f"{SUPPORT / 'lab_for_tests.py'}:make_labthing"
QUEUED = 1000  # the default cap of invocations waiting for one Thing


def thread_count(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no Threads line")


@pytest.mark.timeout(120)
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_a_full_queue_is_503_holds_no_threads_and_sigterm_still_stops_the_server(
    tmp_path: Path,
) -> None:
    record = tmp_path / "record.txt"
    lab = ServedLab(TARGET, env={"LABTHINGS_TEST_RECORD": str(record)})
    try:
        url = f"{lab.url}slow/actions/sleep"
        async_ = {"Prefer": "respond-async"}
        first = requests.post(url, json={"seconds": 60}, headers=async_, timeout=10)
        assert first.status_code == 201
        before = thread_count(lab.process.pid)

        def post(_: int) -> int:
            return requests.post(url, json={"seconds": 1}, headers=async_, timeout=30).status_code

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(post, range(QUEUED)))
        assert statuses == [201] * QUEUED
        # A thousand invocations wait for the instrument without a thread each.
        assert thread_count(lab.process.pid) < before + 20

        refused = requests.post(url, json={"seconds": 1}, headers=async_, timeout=10)
        assert refused.status_code == 503
        assert refused.headers["Retry-After"]
        assert refused.headers["Content-Type"] == "application/problem+json"
        assert "already has 1000" in refused.json()["detail"]
        pending = requests.get(f"{lab.url}actions?status=pending&limit=1000", timeout=10)
        assert len(pending.json()) == QUEUED and "Link" not in pending.headers
        running = requests.get(f"{lab.url}actions?status=running", timeout=10).json()
        assert [record["id"] for record in running] == [first.json()["id"]]  # nothing else
        assert requests.get(f"{lab.url}calc/properties/value", timeout=5).status_code == 200
    finally:
        code = lab.stop(signal.SIGTERM, timeout=30)
    assert code == 0
    assert record.read_text().splitlines() == ["enter", "exit"]
    assert not os.path.exists(f"/proc/{lab.process.pid}")
