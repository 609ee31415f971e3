"""End to end: a program left running by a server killed with SIGKILL is stopped when
a server starts again on the same data folder."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from lab_programs import alive
from served import SUPPORT, ServedLab

TARGET = f"{SUPPORT / 'lab_programs.py'}:make_labthing"
WAIT = 10.0


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_a_program_left_by_a_killed_server_is_stopped_at_the_next_start(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    pidfile = tmp_path / "pids"
    pids: list[int] = []
    lab = ServedLab(TARGET, extra=["--data-dir", str(data_dir)])
    try:
        body = {"mode": "spawn", "args": [str(pidfile)]}  # a program that started a child
        response = requests.post(f"{lab.url}analysis/actions/run", json=body, timeout=WAIT)
        assert response.status_code == 201, response.text
        location = urlsplit(response.headers["Location"]).path  # the port changes
        invocation = response.json()["id"]
        deadline = time.monotonic() + WAIT
        while not pidfile.exists():
            assert time.monotonic() < deadline, "the program did not start"
            time.sleep(0.01)
        pids = [int(pid) for pid in pidfile.read_text().split()]
        lab.stop(signal.SIGKILL)
        assert all(alive(pid) for pid in pids)  # the server is gone; its program runs on

        again = ServedLab(TARGET, extra=["--data-dir", str(data_dir)])
        try:
            deadline = time.monotonic() + WAIT
            while any(alive(pid) for pid in pids):
                assert time.monotonic() < deadline, "the program outlived the restart"
                time.sleep(0.01)
            warning = (
                f"WARNING labthings.core.programs.orphans: stopped program 'program_for_tests' "
                f"(process {pids[0]}) of invocation {invocation}, left running when the server "
                "last stopped"
            )
            assert warning in again.output
            assert not list((data_dir / "programs" / invocation).glob(".labthings-program-*"))
            record = requests.get(urljoin(again.url, location), timeout=WAIT).json()
            assert record["status"] == "error"
            assert record["error"]["type"] == "urn:labthings:problem:interrupted"
        finally:
            again.stop()
    finally:
        lab.stop(signal.SIGKILL)
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)  # the test failed: leave nothing behind
