"""The demo lab of the README: served for real, on simulators, or pointed elsewhere."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import time

import requests
from served import ROOT, ServedLab

DEMO = ROOT / "examples" / "microscope.py"
README_SERVER = "http://127.0.0.1:7485/"


def readme_curl_commands() -> list[list[str]]:
    """The README's curl commands that talk to the demo at its default address."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", readme, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words[:1] == ["curl"] and any(w.startswith(README_SERVER) for w in words):
                commands.append(words[1:])
    return commands


def curl_as_requests(words: list[str], root: str) -> requests.Response:
    """What `curl words...` would get from the server at `root` instead of the README's."""
    method, headers, data, url = "GET", {}, None, ""
    options = iter(words)
    for word in options:
        if word == "-X":
            method = next(options)
        elif word == "-H":
            name, _, value = next(options).partition(":")
            headers[name.strip()] = value.strip()
        elif word == "-d":
            data, method = next(options), method if method != "GET" else "POST"
        elif word.startswith(README_SERVER):
            url = root + word[len(README_SERVER) :]
    return requests.request(method, url, headers=headers, data=data, timeout=10)


def test_every_curl_command_of_the_readme_works_on_the_demo() -> None:
    commands = readme_curl_commands()
    assert len(commands) >= 8
    lab = ServedLab(f"{DEMO}:labthing")
    try:
        for words in commands:
            response = curl_as_requests(words, lab.url)
            assert response.ok, (shlex.join(words), response.status_code, response.text[:300])
    finally:
        assert lab.stop() == 0, lab.output


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
