"""The demo lab of the README: served for real, on simulators, or pointed elsewhere."""

from __future__ import annotations

import subprocess
import sys
import time

import requests
from served import ROOT, ServedLab

DEMO = ROOT / "examples" / "microscope.py"


def test_the_demo_serves_every_instrument_on_simulators() -> None:
    lab = ServedLab(f"{DEMO}:labthing")
    try:
        index = requests.get(lab.url, timeout=5).json()
        expected = {"stage", "camera", "light", "thermometer", "psu", "spectrometer", "analysis"}
        assert set(index["things"]) == expected
        for name in index["things"]:
            assert requests.get(f"{lab.url}{name}/", timeout=5).json()["title"]
        record = requests.post(
            f"{lab.url}stage/actions/move", json={"x": 300, "y": 100}, timeout=10
        ).json()
        assert record["status"] == "completed" and record["output"] == [300, 100]
        assert requests.get(f"{lab.url}stage/properties/position", timeout=5).json() == [300, 100]
        assert requests.put(f"{lab.url}psu/properties/voltage", json=5.0, timeout=5).ok
        assert requests.get(f"{lab.url}psu/properties/voltage", timeout=5).json() == 5.0
        spectrum = requests.post(
            f"{lab.url}spectrometer/actions/acquire", json={"averages": 1}, timeout=10
        ).json()
        assert spectrum["status"] == "completed"
    finally:
        assert lab.stop() == 0, lab.output


def test_a_factory_option_points_an_instrument_at_another_port() -> None:
    command = [sys.executable, "-m", "labthings", "serve", f"{DEMO}:make_labthing"]
    started = time.monotonic()
    result = subprocess.run(
        [*command, "--port", "0", "--option", "stage=/dev/no-such-stage"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert time.monotonic() - started < 30
    assert result.returncode == 1
    assert "could not start" in result.stderr and "/dev/no-such-stage" in result.stderr

    lab = ServedLab(f"{DEMO}:make_labthing", extra=["--option", "psu=sim://psu"])
    try:
        assert requests.get(f"{lab.url}psu/properties/output", timeout=5).json() is False
    finally:
        lab.stop()
