"""Programs a killed server left running: their records, and stopping them at a start.

The served test (a server killed with SIGKILL while a program runs, then restarted) is
in tests/served/test_program_orphans_served.py; these check the record and the identity rule.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from core_helpers import WAIT, wait_until
from lab_programs import PROGRAM, alive

from labthings import run_program
from labthings.core.programs.orphans import ProgramRecord, stop_left_programs
from labthings.core.programs.tree import start_time

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
LOGGER = "labthings.core.programs.orphans"


@pytest.fixture
def program() -> Iterator[subprocess.Popen[bytes]]:
    """A program that sleeps in a session of its own, as `run_program` starts them."""
    process = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
    )
    yield process
    process.kill()
    process.wait(WAIT)


def record_in(root: Path, invocation: str, pid: int, started: int | None) -> Path:
    """A program record as a killed server leaves it, in `invocation`'s folder."""
    folder = root / invocation
    folder.mkdir(parents=True)
    path = folder / f".labthings-program-{pid}.json"
    record = {"pid": pid, "started": started, "name": "sleeper", "args": ["sleeper"]}
    path.write_text(json.dumps(record))
    return path


def test_a_recorded_program_still_running_is_stopped_with_a_warning(
    program: subprocess.Popen[bytes], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = record_in(tmp_path, "inv-1", program.pid, start_time(program.pid))
    with caplog.at_level(logging.WARNING, LOGGER):
        assert stop_left_programs(tmp_path) == [program.pid]
    assert program.wait(WAIT) == -15  # asked politely, and it went
    assert not path.exists()
    assert [record.getMessage() for record in caplog.records] == [
        f"stopped program 'sleeper' (process {program.pid}) of invocation inv-1, left "
        "running when the server last stopped"
    ]


def test_a_recorded_pid_with_another_start_time_is_left_alone(
    program: subprocess.Popen[bytes], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The id was given to another process since (PID reuse): that one is not touched."""
    started = start_time(program.pid)
    assert started is not None
    path = record_in(tmp_path, "inv-2", program.pid, started - 1)
    with caplog.at_level(logging.INFO, LOGGER):
        assert stop_left_programs(tmp_path) == []
    assert program.poll() is None and alive(program.pid)
    assert not path.exists()  # an ended program's record is gone: no warning next time
    assert caplog.records == []


def test_a_program_whose_identity_cannot_be_proven_is_only_named(
    program: subprocess.Popen[bytes], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Without a start time (macOS, Windows) a live process is named, never stopped."""
    record_in(tmp_path, "inv-3", program.pid, None)
    with caplog.at_level(logging.WARNING, LOGGER):
        assert stop_left_programs(tmp_path) == []
    assert program.poll() is None and alive(program.pid)
    [warning] = caplog.records
    assert f"(process {program.pid}) of invocation inv-3 may still be running" in (
        warning.getMessage()
    )


def test_unreadable_records_and_ended_programs_are_removed_quietly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait(WAIT)
    paths = [record_in(tmp_path, "inv-4", ended.pid, 12345)]
    paths.append(tmp_path / "inv-4" / ".labthings-program-1.json")
    paths[-1].write_text('{"pid": 1, "started"')  # cut short by the kill
    with caplog.at_level(logging.INFO, LOGGER):
        assert stop_left_programs(tmp_path) == []
    assert not any(path.exists() for path in paths)
    assert caplog.records == []


def test_run_program_records_its_program_while_it_runs(tmp_path: Path) -> None:
    folder = tmp_path / "work"
    folder.mkdir()
    runner = threading.Thread(
        target=run_program,
        args=([sys.executable, PROGRAM, "sleep", "1"],),
        kwargs={"folder": folder},
    )
    runner.start()
    try:
        wait_until(lambda: any(folder.glob(".labthings-program-*.json")))
        [path] = folder.glob(".labthings-program-*.json")
        record = ProgramRecord.read(path)
        assert record is not None and record.name == "program_for_tests"
        assert record.started == start_time(record.pid)
        assert record.args[1:] == [str(PROGRAM), "sleep", "1"]
    finally:
        runner.join(WAIT)
    assert not runner.is_alive()
    assert list(folder.iterdir()) == []  # the record goes with the program
