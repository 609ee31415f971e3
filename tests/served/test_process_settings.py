"""Settings `labthings serve` gives its own process, and only it: two malloc arenas
however many threads allocate (`labthings.serving.memory`), and a 20 ms GIL switch
interval (`labthings.serving.gil`). A plain process has one arena per contending thread
and Python's 5 ms interval."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
import requests
from served import SUPPORT, ServedLab

from labthings.serving.gil import SERVED_SWITCH_INTERVAL

_COUNT = "import malloc_arenas; print(malloc_arenas.arenas_after_contention())"
_on_linux = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="glibc's malloc arenas, on Linux"
)


@pytest.fixture(scope="module")
def lab() -> Iterator[ServedLab]:
    served = ServedLab(f"{SUPPORT / 'lab_programs.py'}:make_labthing", extra=["--ephemeral"])
    try:
        yield served
    finally:
        served.stop()


def _output(lab: ServedLab, action: str) -> object:
    response = requests.post(f"{lab.url}analysis/actions/{action}", headers={"Prefer": "wait=30"})
    record = response.json()
    assert record["status"] == "completed", record
    return record["output"]


@_on_linux
def test_a_served_process_has_at_most_two_arenas(lab: ServedLab) -> None:
    arenas = _output(lab, "malloc_arenas")
    assert isinstance(arenas, int)
    assert 1 <= arenas <= 2


@_on_linux
def test_without_it_contending_threads_get_arenas_of_their_own() -> None:
    """What the served test would see without the limit: it can tell the difference."""
    counted = subprocess.run(
        [sys.executable, "-c", _COUNT],
        cwd=SUPPORT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert int(counted.stdout) > 2


def test_a_served_process_switches_gil_holders_every_20_ms(lab: ServedLab) -> None:
    assert _output(lab, "switch_interval") == pytest.approx(SERVED_SWITCH_INTERVAL)
    assert SERVED_SWITCH_INTERVAL == pytest.approx(0.02)


def test_importing_labthings_leaves_the_interval_alone() -> None:
    shown = subprocess.run(
        [sys.executable, "-c", "import sys, labthings; print(sys.getswitchinterval())"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert float(shown.stdout) == pytest.approx(0.005)
