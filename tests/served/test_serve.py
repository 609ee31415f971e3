"""End to end: `labthings serve` in a subprocess, driven by a real HTTP client."""

from __future__ import annotations

import http.client
import re
import shutil
import signal
import socket
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
from sse import collect

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


def test_console_script_is_installed() -> None:
    # Beside the interpreter running the tests (a virtual environment's bin is not on PATH).
    folder = Path(sys.executable).parent
    script = shutil.which("labthings", path=str(folder))
    assert script is not None, f"pip install -e . puts the labthings command in {folder}"
    result = subprocess.run([script, "serve", "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    assert "--port" in result.stdout and "127.0.0.1" in result.stdout


def wait_for_line(lab: ServedLab, pattern: str, timeout: float = 10) -> str:
    """The first line of the server's output matching `pattern`, waiting up to `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if match := re.search(f"^.*{pattern}.*$", lab.output, re.MULTILINE):
            return match.group(0)
        time.sleep(0.05)
    raise AssertionError(f"no line matching {pattern!r} in:\n{lab.output}")


def test_debug_level_logs_each_request_as_it_starts_and_streams_still_stream() -> None:
    lab = ServedLab(TARGET, extra=["--log-level", "debug"])
    try:
        assert requests.get(f"{lab.url}calc/properties/value?unit=V", timeout=5).json() == 1.5
        line = wait_for_line(lab, r"GET /calc/properties/value\?unit=V ")
        assert re.search(
            r" DEBUG labthings\.access: GET /calc/properties/value\?unit=V 200 "
            r"\d+\.\d ms$",
            line,
        )

        def write_once_the_stream_is_logged() -> None:
            wait_for_line(lab, "GET /calc/properties/value/events 200 ")  # logged as it opens
            requests.put(f"{lab.url}calc/properties/value", json=2.5, timeout=5)

        got = collect(
            f"{lab.url}calc/properties/value/events",
            lambda m: m.data == 2.5,
            on_open=write_once_the_stream_is_logged,
        )
        assert got[-1].data == 2.5
        wait_for_line(lab, "PUT /calc/properties/value 2")
    finally:
        lab.stop()


def test_info_level_logs_no_request_lines() -> None:
    lab = ServedLab(TARGET)
    try:
        assert requests.get(f"{lab.url}calc/properties/value", timeout=5).status_code == 200
    finally:
        code = lab.stop()
    assert code == 0
    assert "labthings.access" not in lab.output and " DEBUG " not in lab.output


def wait_until_up(url: str, process: subprocess.Popen[str], timeout: float = 20) -> None:
    """Wait (bounded) until `url` answers; fails at once if the server has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited"
        try:
            requests.get(url, timeout=2)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def test_warning_level_hides_info_lines_but_task_logs_keep_them() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free a moment ago; the server takes it next
    arguments = ["serve", TARGET, "--port", str(port), "--log-level", "warning"]
    process = subprocess.Popen(
        [sys.executable, "-m", "labthings", *arguments],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_until_up(url, process)
        record = requests.post(f"{url}slow/actions/chatter", json={"count": 1}, timeout=10).json()
        assert record["status"] == "completed"
        assert [entry["message"] for entry in record["log"]] == ["step 1"]
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _, errors = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            _, errors = process.communicate(timeout=5)
    assert process.returncode == 0, errors
    assert " INFO " not in errors and "step 1" not in errors
