"""The README's example and quick start stay true."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_example_thing_runs() -> None:
    code = re.search(r"## A Thing\n\n```python\n(.*?)```", README, re.S)
    assert code is not None
    namespace: dict[str, object] = {}
    exec(compile(code.group(1), "README example", "exec"), namespace)
    app = namespace["app"]
    client = app.test_client()  # type: ignore[attr-defined]
    record = client.post("/stage/actions/move", json={"x": 3}).get_json()
    assert record["status"] == "completed"
    assert record["output"] == [3, 0]
    assert record["progress"] == 100
    assert client.get("/stage/properties/position").get_json() == [3, 0]
    assert client.put("/stage/properties/speed", json=11).status_code == 422


def test_ci_runs_the_readme_test_command() -> None:
    quick_start = re.search(r"## Quick start.*?```bash\n(.*?)```", README, re.S)
    assert quick_start is not None
    commands = [line for line in quick_start.group(1).splitlines() if line and line[0] != "#"]
    assert len(commands) == 2
    assert "labthings serve examples/microscope.py:labthing" in commands[0]
    assert commands[1] in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
