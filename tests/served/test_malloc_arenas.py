"""`labthings serve` keeps the C heap in two malloc arenas however many threads allocate
(`labthings.serving.memory`); a plain process has one per contending thread."""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests
from served import SUPPORT, ServedLab

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="glibc's malloc arenas, on Linux"
)

_COUNT = "import malloc_arenas; print(malloc_arenas.arenas_after_contention())"


def test_a_served_process_has_at_most_two_arenas() -> None:
    lab = ServedLab(f"{SUPPORT / 'lab_programs.py'}:make_labthing", extra=["--ephemeral"])
    try:
        response = requests.post(
            f"{lab.url}analysis/actions/malloc_arenas", headers={"Prefer": "wait=30"}
        )
        record = response.json()
        assert record["status"] == "completed", record
        assert 1 <= record["output"] <= 2
    finally:
        lab.stop()


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
