"""External programs as tasks: `run_program` inside actions, through a TaskRunner.

The programs are small Python scripts (`program_for_tests.py`, the example
`fit_spectrum.py`) run with this interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from core_helpers import WAIT, FakeClock, finish, invoke, serve, wait_until
from lab_programs import FIT_SPECTRUM, PROGRAM, Analysis, alive, simulated_spectrum

from labthings import ProgramFailed, ProgramNotFound, program_folder, run_program
from labthings.core.programs import run as program_run
from labthings.core.programs.folders import PROGRAMS_FOLDER
from labthings.core.programs.progress import read_status_file
from labthings.core.settings import Settings
from labthings.core.tasks import logs as task_logs
from labthings.core.tasks.runner import TaskRunner
from labthings.core.tasks.thread import TaskThread
from labthings.core.things.registry import ThingEntry

ROOT = Path(__file__).parents[2]
PROGRAM_LOGGER = "labthings.program.program_for_tests"
# A program that ignores SIGTERM is killed this long after it: short, so tests are quick.
GRACE = 0.5


@pytest.fixture(autouse=True)
def task_logs_on() -> None:
    """Records made inside tasks reach their logs, as in a served LabThing."""
    task_logs.install()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    return folder


@pytest.fixture
def runners(data_dir: Path) -> Iterator[Callable[..., TaskRunner]]:
    """Make TaskRunners keeping their state in `data_dir`; each is shut down at the end."""
    made: list[TaskRunner] = []

    def make(clock: Callable[[], float] = time.time, **settings: Any) -> TaskRunner:
        runner = TaskRunner(Settings(**settings), clock=clock, data_dir=data_dir)
        made.append(runner)
        return runner

    yield make
    for runner in made:
        runner.shutdown(WAIT)
        runner.close()


@pytest.fixture
def runner(runners: Callable[..., TaskRunner]) -> TaskRunner:
    return runners()


@pytest.fixture
def entry() -> ThingEntry:
    return serve(Analysis(), "analysis")


def run(runner: TaskRunner, entry: ThingEntry, mode: str, *args: str, **options: Any) -> TaskThread:
    """Start the `run` action: the test program in `mode`."""
    return invoke(runner, entry, "run", {"mode": mode, "args": list(args), **options})


def program_lines(record: dict[str, Any], level: str) -> list[str]:
    """The messages of the program's lines at `level` in a record's log."""
    return [
        entry["message"]
        for entry in record["log"]
        if entry["logger"] == PROGRAM_LOGGER and entry["levelname"] == level
    ]


def spawned_pids(pidfile: Path) -> list[int]:
    """The program's and its child's process ids, once the program has written them."""
    wait_until(pidfile.exists, WAIT * 2)
    return [int(pid) for pid in pidfile.read_text().split()]


# -- running and output --------------------------------------------------------------


def test_the_output_is_the_programs_standard_output(runner: TaskRunner, entry: ThingEntry) -> None:
    record = finish(run(runner, entry, "lines", "3"), WAIT * 2)
    assert record["status"] == "completed", record["error"]
    assert record["output"] == "out 0\nout 1\nout 2"


def test_output_and_error_lines_reach_the_task_log_in_order(
    runner: TaskRunner, entry: ThingEntry
) -> None:
    record = finish(run(runner, entry, "lines", "200"), WAIT * 2)
    assert record["status"] == "completed", record["error"]
    assert program_lines(record, "INFO") == [f"out {i}" for i in range(200)]
    assert program_lines(record, "WARNING") == [f"err {i}" for i in range(200)]
    messages = [entry["message"] for entry in record["log"]]
    assert any(message.startswith("started ") for message in messages)
    assert any("ended with code 0" in message for message in messages)


def test_a_program_that_fills_both_pipes_does_not_deadlock_and_its_output_is_bounded(
    runner: TaskRunner, entry: ThingEntry, caplog: pytest.LogCaptureFixture
) -> None:
    # 2 x 12,000 lines of 108 bytes: far more than a pipe holds, stderr first.
    record = finish(run(runner, entry, "flood", "12000"), 60)
    assert record["status"] == "completed", record["error"]
    stored = runner.output_file(record["id"])  # over 64 kB: kept as a blob
    assert stored is not None
    output = json.loads(stored[0].read_text())
    assert len(output) <= program_run.OUTPUT_LIMIT
    lines = output.split("\n")
    assert lines[0].startswith("000000 ") and lines[-2].startswith(f"{len(lines) - 2:06d} ")
    assert "the output keeps the first" in caplog.text  # (the task log keeps the last lines)
    assert program_lines(record, "INFO")[-1].startswith("011999 ")  # every line was logged


def test_a_result_file_in_json_is_the_output(runner: TaskRunner, entry: ThingEntry) -> None:
    body = '{"answer": 42, "items": [1.5, null, "x"]}'
    record = finish(run(runner, entry, "result", "out.json", body, result_file="out.json"))
    assert record["status"] == "completed", record["error"]
    assert record["output"] == {"answer": 42, "items": [1.5, None, "x"]}


def test_a_result_file_of_another_kind_is_text(runner: TaskRunner, entry: ThingEntry) -> None:
    record = finish(run(runner, entry, "result", "out.txt", "3 peaks", result_file="out.txt"))
    assert record["output"] == "3 peaks"


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        (None, "wrote no result file 'out.json'"),
        ("{not json", "is not strict JSON"),
        ('{"x": NaN}', "is not strict JSON"),
    ],
)
def test_a_missing_or_malformed_result_file_is_an_error(
    runner: TaskRunner, entry: ThingEntry, written: str | None, expected: str
) -> None:
    if written is None:
        task = run(runner, entry, "lines", "1", result_file="out.json")
    else:
        task = run(runner, entry, "result", "out.json", written, result_file="out.json")
    record = finish(task)
    assert record["status"] == "error"
    assert expected in record["error"]["detail"]


# -- progress ------------------------------------------------------------------------


def watched_task(target: Callable[[], Any]) -> tuple[TaskThread, list[int]]:
    """A TaskThread (without a runner) running `target`, and the list of the progress
    values it reports, in order (from its live updates)."""
    seen: list[int] = []

    def note(task: TaskThread, kind: str, data: dict[str, Any]) -> None:
        if kind == "update" and data["progress"] is not None:
            seen.append(data["progress"])

    task = TaskThread(thing="analysis", action="run", target=target, arguments={}, listener=note)
    task.start()
    return task, seen


def test_progress_comes_from_a_status_file_and_garbage_is_ignored() -> None:
    # Each value stays 0.3 s, longer than the 0.2 s between reads; garbage between them.
    values = ["10", "", "abc", "40 halfway there", "-5", "nan", "1e999", "150", "70%", "100"]

    def act() -> Any:
        return run_program(
            [sys.executable, PROGRAM, "status", "0.3", *values], status_file="status.txt"
        )

    task, reported = watched_task(act)
    record = finish(task, 30)
    assert record["status"] == "completed", record["error"]
    assert reported, "no progress was reported"
    assert set(reported) <= {10, 40, 70, 100}
    assert reported == sorted(reported)
    assert reported[-1] == 100
    assert record["progress"] == 100


def test_a_status_message_becomes_the_task_message() -> None:
    def act() -> Any:
        return run_program(
            [sys.executable, PROGRAM, "status", "0.5", "40 fitting peak 3"],
            status_file="status.txt",
        )

    record = finish(watched_task(act)[0], 30)
    assert record["message"] == "fitting peak 3"


def test_progress_comes_from_lines_matching_a_pattern() -> None:
    def act() -> Any:
        return run_program(
            [sys.executable, PROGRAM, "pattern", "0.05", "5", "x", "50", "999", "75.5"],
            progress_pattern=r"working: (\S+)%",
        )

    task, reported = watched_task(act)
    record = finish(task, 30)
    assert record["status"] == "completed", record["error"]
    # Every line is read, so every matching one counts: "x" and 999 are not percentages,
    # and 75.5 is rounded.
    assert reported == [5, 50, 76]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"42", (42.0, None)),
        (b"42.5 fitting\nsecond line", (42.5, "fitting")),
        (b"  7%  ", (7.0, None)),
        (b"", None),
        (b"4\xff2", None),
        (b"inf", None),
        (b"101", None),
    ],
)
def test_reading_a_status_file(
    tmp_path: Path, content: bytes, expected: tuple[float, str | None] | None
) -> None:
    status = tmp_path / "status.txt"
    status.write_bytes(content)
    assert read_status_file(status) == expected
    assert read_status_file(tmp_path / "missing.txt") is None


# -- failures ------------------------------------------------------------------------


def test_a_non_zero_exit_is_an_error_naming_the_code_and_the_last_error_lines(
    runner: TaskRunner, entry: ThingEntry
) -> None:
    record = finish(run(runner, entry, "fail", "3", "12"))
    assert record["status"] == "error"
    assert record["error"]["exception"] == "ProgramFailed"
    detail = record["error"]["detail"]
    assert "exited with code 3" in detail
    quoted = detail.split("error output:\n", 1)[1].split("\n")
    assert quoted == [f"problem {i}" for i in range(2, 12)]  # the last 10 of 12


def test_the_failure_is_an_exception_the_action_can_catch() -> None:
    with pytest.raises(ProgramFailed) as caught:
        run_program([sys.executable, PROGRAM, "fail", "4", "1"])
    assert caught.value.returncode == 4
    assert caught.value.stderr_tail == ["problem 0"]
    assert str(caught.value) == (
        "program 'program_for_tests' exited with code 4; the last lines of its error "
        "output:\nproblem 0"
    )


def test_a_missing_program_is_a_clear_error_without_a_traceback(
    runner: TaskRunner, entry: ThingEntry, caplog: pytest.LogCaptureFixture
) -> None:
    record = finish(invoke(runner, entry, "missing", {}))
    assert record["status"] == "error"
    assert record["error"]["exception"] == "ProgramNotFound"
    assert "'labthings-no-such-program' was not found" in record["error"]["detail"]
    failures = [r for r in caplog.records if "failed" in r.getMessage() and r.levelname == "ERROR"]
    assert failures and all(not r.exc_info for r in failures)
    assert "was not found" in failures[0].getMessage()
    with pytest.raises(ProgramNotFound, match="no executable file at that path"):
        run_program([str(ROOT / "no" / "such" / "program")])


def test_a_program_that_runs_too_long_is_stopped(runner: TaskRunner, entry: ThingEntry) -> None:
    record = finish(run(runner, entry, "spawn", "unused", timeout=0.5), WAIT * 2)
    assert record["status"] == "error"
    assert "did not finish within 0.5 s and was stopped" in record["error"]["detail"]


# -- stopping the process tree -------------------------------------------------------


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
@pytest.mark.parametrize("mode", ["spawn", "stubborn"])
def test_cancelling_stops_the_program_and_the_child_it_started(
    runner: TaskRunner, entry: ThingEntry, tmp_path: Path, mode: str
) -> None:
    pidfile = tmp_path / "pids"
    task = run(runner, entry, mode, str(pidfile), grace=GRACE)
    pids = spawned_pids(pidfile)
    assert all(alive(pid) for pid in pids)
    task.cancel()
    record = finish(task, WAIT * 2)
    assert record["status"] == "cancelled"
    assert not any(alive(pid) for pid in pids)
    killed = any("had to be killed" in entry["message"] for entry in record["log"])
    assert killed == (mode == "stubborn")  # only a program that ignores SIGTERM is killed


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_the_tree_is_stopped_when_the_action_fails_while_it_runs(
    runner: TaskRunner, entry: ThingEntry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_take(self: Any, line: Any) -> None:
        raise RuntimeError("the logging broke")

    monkeypatch.setattr(program_run._ProgramRun, "_take", failing_take)
    pidfile = tmp_path / "pids"
    task = run(runner, entry, "spawn", str(pidfile), grace=GRACE)
    record = finish(task, WAIT * 2)  # its first line ("spawned") ends the action
    assert record["status"] == "error"
    assert "the logging broke" in record["error"]["detail"]
    assert not any(alive(pid) for pid in spawned_pids(pidfile))


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_processes_left_behind_by_a_program_that_exited_are_stopped(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    script = (
        "import subprocess, sys\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],"
        " stdout=subprocess.DEVNULL)\n"
        f"open({str(pidfile)!r}, 'w').write(str(child.pid))\n"
    )
    started = time.monotonic()
    assert run_program([sys.executable, "-c", script], grace=GRACE) == ""
    assert time.monotonic() - started < 30
    assert not alive(int(pidfile.read_text()))


# -- working folders -----------------------------------------------------------------


def test_each_invocation_has_its_own_folder_in_the_data_folder(
    runner: TaskRunner, entry: ThingEntry, data_dir: Path
) -> None:
    first = finish(invoke(runner, entry, "fit_spectrum", {"centre": 520, "bootstrap": 3}))
    second = finish(run(runner, entry, "status", "0", "55"))
    assert first["status"] == second["status"] == "completed"
    folder = data_dir / PROGRAMS_FOLDER / first["id"]
    assert {path.name for path in folder.iterdir()} == {"input.json", "status.txt", "result.json"}
    assert (data_dir / PROGRAMS_FOLDER / second["id"] / "status.txt").read_text() == "55"
    assert first["output"]["centre"] == pytest.approx(520, abs=0.05)
    assert first["progress"] == 100


def test_a_second_program_of_one_invocation_shares_its_folder_without_stale_files() -> None:
    folders: list[Path] = []

    def act() -> Any:
        folders.append(program_folder())
        run_program([sys.executable, PROGRAM, "result", "out.txt", "first"], result_file="out.txt")
        folders.append(program_folder())
        # A program that writes no result file must not get the first one's.
        return run_program([sys.executable, PROGRAM, "lines", "1"], result_file="out.txt")

    record = finish(watched_task(act)[0], WAIT * 2)
    assert folders[0] == folders[1]
    assert record["status"] == "error"
    assert "wrote no result file" in record["error"]["detail"]


def test_outside_a_task_each_folder_is_new_and_temporary() -> None:
    first, second = program_folder(), program_folder()
    assert first != second and first.is_dir() and second.is_dir()
    assert run_program([sys.executable, PROGRAM, "result", "r.txt", "x"], folder=first) == ""
    assert (first / "r.txt").read_text() == "x"


def test_expired_folders_go_at_start_and_when_a_folder_is_made(
    runners: Callable[..., TaskRunner], entry: ThingEntry, data_dir: Path
) -> None:
    keep = 3600.0
    folders = data_dir / PROGRAMS_FOLDER
    folders.mkdir(parents=True)
    old, recent = folders / "old", folders / "recent"
    for folder, age in ((old, keep + 60), (recent, keep - 60)):
        folder.mkdir()
        (folder / "status.txt").write_text("100")
        os.utime(folder, (time.time() - age, time.time() - age))
    (folders / "not-a-folder.txt").write_text("left alone")
    clock = FakeClock()
    runner = runners(clock=clock, program_folder_keep=keep)
    assert not old.exists() and recent.exists()  # at start

    first = run(runner, entry, "sleep", "30")
    wait_until(lambda: (folders / first.id).is_dir())
    clock.advance(keep + 120)  # everything is now older than `keep`...
    second = finish(run(runner, entry, "lines", "1"))
    assert second["status"] == "completed"
    assert not recent.exists()  # ...so a new folder removed the recent one,
    assert (folders / first.id).is_dir()  # but not that of a running invocation
    assert (folders / "not-a-folder.txt").exists()
    first.cancel()
    finish(first, WAIT * 2)


def test_an_ephemeral_runner_keeps_folders_in_a_temporary_folder(entry: ThingEntry) -> None:
    runner = TaskRunner(Settings())
    try:
        record = finish(invoke(runner, entry, "fit_spectrum", {"bootstrap": 1}))
        assert record["status"] == "completed", record["error"]
        roots = Path(tempfile.gettempdir()).glob("labthings-programs-*")
        made = [root for root in roots if (root / record["id"]).is_dir()]
        assert len(made) == 1
    finally:
        runner.shutdown(WAIT)
        runner.close()
    assert not made[0].exists()


# -- the example program and Windows -------------------------------------------------


def test_the_example_fit_recovers_the_peak(tmp_path: Path) -> None:
    (tmp_path / "input.json").write_text(json.dumps(simulated_spectrum(601.3, 12)))
    result = run_program(
        [sys.executable, FIT_SPECTRUM, "--bootstrap", "5"],
        folder=tmp_path,
        result_file="result.json",
    )
    assert result["centre"] == pytest.approx(601.3, abs=0.05)
    assert result["fwhm"] == pytest.approx(12, rel=0.02)
    assert result["centre_sd"] < 0.1


@pytest.mark.timeout(120)
def test_the_windows_code_path_type_checks(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "mypy", "--platform", "win32", "--cache-dir", str(tmp_path)]
    result = subprocess.run(
        [*command, "labthings/core/programs"], cwd=ROOT, capture_output=True, text=True, timeout=110
    )
    assert result.returncode == 0, result.stdout + result.stderr
