"""The README's client examples run against the served demo, and its table of exit
statuses is the command line's."""

from __future__ import annotations

import contextlib
import io
import re
import textwrap
from pathlib import Path

from served import ROOT, ServedLab

from labthings.client.cli import EXIT_STATUSES

README = (ROOT / "README.md").read_text(encoding="utf-8")
SECTION = (
    README.split("## The Python client and the command line")[1]
    .split("\n## ")[0]
    .split("\n### ")[0]
)
DEMO = Path(ROOT) / "examples" / "microscope.py"


def run(code: str, url: str) -> str:
    """Run a README snippet against the server at `url`; what it printed."""
    code = textwrap.dedent(code).replace("http://127.0.0.1:7485/", url)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "README client example", "exec"), {})
    return printed.getvalue()


def test_the_client_examples_run_against_the_demo() -> None:
    script, follow = re.findall(r"```python\n(.*?)```", SECTION, re.S)
    assert len([line for line in script.splitlines() if line.strip()]) == 5
    lab = ServedLab(f"{DEMO}:labthing", extra=["--ephemeral"])
    try:
        assert run(script, lab.url) == "[4000, 1000] [4000, 1000]\n"
        lines = run(follow, lab.url).splitlines()
        assert lines[-1] == "100 frame 20/20 None"
        assert "5 frame 1/20 None" in lines
    finally:
        lab.stop()


def test_the_readme_lists_every_exit_status_as_the_help_does() -> None:
    table = dict(re.findall(r"^\| (\d+) \| (.*) \|$", SECTION, re.M))
    assert {int(status) for status in table} == set(EXIT_STATUSES)
    for status, meaning in table.items():
        assert meaning.replace("`", "").startswith(EXIT_STATUSES[int(status)].split(" (")[0][:40])
