"""End to end: actions that run external programs, on a served instance over HTTP.

Run with `-s` to see the time from DELETE to the end of a cancelled program's tree.
"""

from __future__ import annotations

import re
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import requests
from lab_programs import alive, simulated_spectrum
from served import ROOT, SUPPORT, ServedLab

from labthings import LabThing

TARGET = f"{SUPPORT / 'lab_programs.py'}:make_labthing"
WAIT = 10.0
ASYNC = {"Prefer": "respond-async"}
_STARTED_IN = re.compile(r"^started .* in (.+)$")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("programs-data")


@pytest.fixture(scope="module")
def served(data_dir: Path) -> Iterator[ServedLab]:
    lab = ServedLab(TARGET, extra=["--data-dir", str(data_dir)])
    yield lab
    lab.stop()


def post(lab: ServedLab, action: str, body: dict[str, Any], **headers: str) -> requests.Response:
    return requests.post(
        f"{lab.url}analysis/actions/{action}", json=body, headers=headers, timeout=WAIT
    )


def started(lab: ServedLab, response: requests.Response) -> str:
    """The URL of the invocation a POST started."""
    assert response.status_code == 201, response.text
    return urljoin(lab.url, response.headers["Location"])


def follow(lab: ServedLab, response: requests.Response) -> tuple[dict[str, Any], set[int]]:
    """Poll the record of the invocation a POST started until it ends; (record, the
    progress values seen)."""
    return follow_at(started(lab, response))


def follow_at(location: str) -> tuple[dict[str, Any], set[int]]:
    seen: set[int] = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        record = requests.get(location, timeout=WAIT).json()
        if record["progress"] is not None:
            seen.add(record["progress"])
        if record["status"] in ("completed", "error", "cancelled"):
            return record, seen
        time.sleep(0.05)
    pytest.fail(f"{location} did not end within 60 s")


def test_a_fit_runs_with_progress_log_and_result_in_its_own_folder(
    served: ServedLab, data_dir: Path
) -> None:
    body = {"centre": 512.5, "width": 6, "bootstrap": 8, "delay": 0.25}
    record, seen = follow(served, post(served, "fit_spectrum", body, **ASYNC))
    assert record["status"] == "completed", record["error"]
    assert record["output"]["centre"] == pytest.approx(512.5, abs=0.05)
    assert record["output"]["fwhm"] == pytest.approx(6, rel=0.02)
    assert record["progress"] == 100
    assert any(0 < progress < 100 for progress in seen), seen  # 2 s of a status file
    lines = [
        entry["message"] for entry in record["log"] if entry["logger"].endswith("fit_spectrum")
    ]
    assert lines[0] == "fitting a Gaussian peak to 600 points"
    assert lines[-8:] == [line for line in lines if line.startswith("bootstrap")]
    assert [line.split(":")[0] for line in lines[-8:]] == [f"bootstrap {i}/8" for i in range(1, 9)]
    folder = data_dir / "programs" / record["id"]
    assert {path.name for path in folder.iterdir()} == {"input.json", "status.txt", "result.json"}


def test_standard_output_is_the_output(served: ServedLab) -> None:
    response = post(served, "run", {"mode": "lines", "args": ["2"]}, Prefer="wait=10")
    record, _ = follow(served, response)
    assert record["output"] == "out 0\nout 1"
    levels = [
        (entry["levelname"], entry["message"])
        for entry in record["log"]
        if entry["logger"] == "labthings.program.program_for_tests"
    ]
    assert [line for line in levels if line[0] == "INFO"] == [("INFO", "out 0"), ("INFO", "out 1")]
    assert [line for line in levels if line[0] == "WARNING"] == [
        ("WARNING", "err 0"),
        ("WARNING", "err 1"),
    ]


def test_a_failing_program_ends_in_error_with_its_code_and_error_lines(served: ServedLab) -> None:
    record, _ = follow(served, post(served, "run", {"mode": "fail", "args": ["7", "3"]}))
    assert record["status"] == "error"
    assert record["error"]["detail"] == (
        "ProgramFailed: program 'program_for_tests' exited with code 7; the last lines of its "
        "error output:\nproblem 0\nproblem 1\nproblem 2"
    )


def test_a_missing_program_ends_in_a_clear_error(served: ServedLab) -> None:
    record, _ = follow(served, post(served, "missing", {}))
    assert record["status"] == "error"
    assert record["error"]["detail"] == (
        "ProgramNotFound: program 'labthings-no-such-program' was not found: no executable "
        "file of that name on PATH"
    )
    assert "Traceback" not in served.output


def test_bad_input_is_refused_before_any_program_runs(served: ServedLab) -> None:
    response = post(served, "fit_spectrum", {"bootstrap": 1000})
    assert response.status_code == 422
    assert "bootstrap" in response.json()["errors"]


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_delete_stops_the_whole_process_tree(served: ServedLab, tmp_path: Path) -> None:
    """A program that started a child: DELETE ends both. Prints DELETE-to-gone times."""
    took: list[float] = []
    for run in range(5):
        pidfile = tmp_path / f"pids-{run}"
        location = started(served, post(served, "run", {"mode": "spawn", "args": [str(pidfile)]}))
        deadline = time.monotonic() + WAIT
        while not pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        pids = [int(pid) for pid in pidfile.read_text().split()]
        assert len(pids) == 2 and all(alive(pid) for pid in pids)
        sent = time.monotonic()
        deleted = requests.delete(location, timeout=WAIT)
        while any(alive(pid) for pid in pids):
            assert time.monotonic() - sent < WAIT, "the program's tree outlived its DELETE"
            time.sleep(0.001)
        took.append(time.monotonic() - sent)
        assert deleted.status_code in (200, 202)
        record, _ = follow_at(location)
        assert record["status"] == "cancelled"
    print(
        f"\nDELETE to the end of the program's tree: median {statistics.median(took) * 1000:.0f}"
        f" ms (runs: {', '.join(f'{t * 1000:.0f}' for t in took)} ms)"
    )


def test_an_ephemeral_server_keeps_program_folders_only_while_it_runs() -> None:
    lab = ServedLab(TARGET, extra=["--ephemeral"])
    try:
        record, _ = follow(lab, post(lab, "fit_spectrum", {"bootstrap": 2}, Prefer="wait=10"))
        assert record["status"] == "completed", record["error"]
        starts = [_STARTED_IN.match(entry["message"]) for entry in record["log"]]
        folder = Path(next(match for match in starts if match).group(1))
        assert (folder / "result.json").is_file()
        assert folder.name == record["id"]
    finally:
        lab.stop()
    assert not folder.exists()


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_stopping_the_server_stops_the_programs_it_runs(tmp_path: Path) -> None:
    lab = ServedLab(TARGET, extra=["--ephemeral"])
    try:
        pidfile = tmp_path / "pids"
        started(lab, post(lab, "run", {"mode": "stubborn", "args": [str(pidfile)], "grace": 1}))
        deadline = time.monotonic() + WAIT
        while not pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        pids = [int(pid) for pid in pidfile.read_text().split()]
        assert all(alive(pid) for pid in pids)
    finally:
        assert lab.stop() == 0
    assert not any(alive(pid) for pid in pids)


def test_the_readme_example_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    code = re.search(r"### External programs\n.*?```python\n(.*?)```", readme, re.S)
    assert code is not None
    namespace: dict[str, Any] = {}
    monkeypatch.chdir(ROOT)  # the example names the program relative to the server's folder
    exec(compile(code.group(1), "README example", "exec"), namespace)
    labthing = LabThing(title="README")
    labthing.add_thing("analysis", namespace["Analysis"]())
    spectrum = simulated_spectrum(488.0, 10)
    with labthing:
        client = labthing.create_app().test_client()
        response = client.post(
            "/analysis/actions/fit_spectrum", json=spectrum, headers={"Prefer": "wait=20"}
        )
        record = response.get_json()
    assert record["status"] == "completed", record["error"]
    assert record["output"]["centre"] == pytest.approx(488.0, abs=0.05)
