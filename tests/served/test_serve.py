"""End to end: `labthings serve` in a subprocess, driven by a real HTTP client."""

from __future__ import annotations

import http.client
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from served import SUPPORT, ServedLab

TARGET = f"{SUPPORT / 'lab_for_tests.py'}:make_labthing"


@pytest.fixture(scope="module")
def served() -> Iterator[ServedLab]:
    lab = ServedLab(TARGET)
    yield lab
    lab.stop()


def test_serves_the_index_on_loopback(served: ServedLab) -> None:
    response = requests.get(served.url, timeout=5)
    assert response.status_code == 200
    assert set(response.json()["things"]) == {"calc", "slow", "recorder"}


def test_connections_are_kept_alive(served: ServedLab) -> None:
    address = urlsplit(served.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=5)
    try:
        connection.request("GET", "/calc/properties/value")
        connection.getresponse().read()
        first_socket = connection.sock
        for _ in range(50):
            connection.request("GET", "/calc/properties/value")
            response = connection.getresponse()
            assert response.status == 200 and response.read() == b"1.5"
            assert not response.will_close
        assert connection.sock is first_socket
    finally:
        connection.close()


def test_fifty_concurrent_actions_while_listing(served: ServedLab) -> None:
    statuses: list[int] = []
    ids: list[str] = []
    failures: list[str] = []
    posting = threading.Event()
    posting.set()

    def start_one() -> None:
        try:
            response = requests.post(
                f"{served.url}slow/actions/nap", json={"seconds": 0.3}, timeout=30
            )
            statuses.append(response.status_code)
            ids.append(response.json()["id"])
        except Exception as error:  # recorded, asserted below
            failures.append(repr(error))

    def list_repeatedly() -> None:
        with requests.Session() as session:
            for _ in range(2000):  # bounded; normally stops when posting ends
                if not posting.is_set():
                    return
                try:
                    response = session.get(f"{served.url}actions?limit=1000", timeout=30)
                    statuses.append(response.status_code)
                    assert isinstance(response.json(), list)
                except Exception as error:
                    failures.append(repr(error))

    listers = [threading.Thread(target=list_repeatedly) for _ in range(4)]
    posters = [threading.Thread(target=start_one) for _ in range(50)]
    for thread in listers + posters:
        thread.start()
    for thread in posters:
        thread.join(60)
    posting.clear()
    for thread in listers:
        thread.join(60)

    assert not failures
    assert not [status for status in statuses if status >= 500]
    assert len(ids) == 50
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        listed = requests.get(f"{served.url}actions?action=nap&limit=1000", timeout=10).json()
        finished = {r["id"] for r in listed if r["status"] == "completed"}
        if set(ids) <= finished:
            break
        time.sleep(0.1)
    assert set(ids) <= finished


def test_graceful_shutdown_cancels_tasks_and_closes_things(tmp_path: Path) -> None:
    record = tmp_path / "record.txt"
    lab = ServedLab(TARGET, env={"LABTHINGS_TEST_RECORD": str(record)})
    try:
        running = requests.post(
            f"{lab.url}slow/actions/sleep",
            json={"seconds": 30},
            headers={"Prefer": "respond-async"},
            timeout=5,
        ).json()
        assert running["status"] in ("pending", "running")
        assert record.read_text() == "enter\n"
        started = time.monotonic()
        code = lab.stop(signal.SIGTERM)
        assert time.monotonic() - started < 10
    finally:
        lab.stop(signal.SIGKILL)
    assert code == 0, lab.output
    assert record.read_text() == "enter\nexit\n"
    assert "stopping" in lab.output
    with pytest.raises(requests.ConnectionError):
        requests.get(lab.url, timeout=2)


def test_sigint_stops_the_server_too() -> None:
    lab = ServedLab(TARGET)
    assert lab.stop(signal.SIGINT) == 0, lab.output


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_such_file.py:labthing", "no such file"),
        ("no_such_module_xyz:labthing", "cannot import"),
        (f"{SUPPORT / 'lab_for_tests.py'}:missing", "no attribute"),
        (f"{SUPPORT / 'lab_for_tests.py'}:Calculator", "not a LabThing"),
    ],
)
def test_bad_targets_exit_2_with_a_message(target: str, message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "labthings", "serve", target],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert message in result.stderr


def test_console_script_is_installed() -> None:
    # Beside the interpreter running the tests (a virtual environment's bin is not on PATH).
    folder = Path(sys.executable).parent
    script = shutil.which("labthings", path=str(folder))
    assert script is not None, f"pip install -e . puts the labthings command in {folder}"
    result = subprocess.run([script, "serve", "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    assert "--port" in result.stdout and "127.0.0.1" in result.stdout
