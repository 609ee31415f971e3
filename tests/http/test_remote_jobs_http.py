"""Remote jobs through the Flask app: the README's example, and DELETE's statuses."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from lab_remote import Analyser, make_labthing

from labthings import LabThing

README = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")


@pytest.fixture
def served() -> Iterator[tuple[LabThing, FlaskClient]]:
    labthing = make_labthing(shutdown_wait=2.0)
    with labthing:
        yield labthing, labthing.create_app().test_client()
        analyser = labthing.thing("analyser")
        assert isinstance(analyser, Analyser)
        analyser.gate.set()


def wait_for_end(client: FlaskClient, task_id: str, timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        record: dict[str, Any] = client.get(f"/actions/{task_id}").get_json()
        if record["status"] in ("completed", "cancelled", "error"):
            return record
        assert time.monotonic() < deadline, record
        time.sleep(0.02)


def test_the_readme_example_reads_a_plate() -> None:
    code = re.search(r"### Remote jobs\n.*?```python\n(.*?)```", README, re.S)
    assert code is not None
    namespace: dict[str, Any] = {}
    exec(compile(code.group(1), "README remote jobs example", "exec"), namespace)
    labthing: LabThing = namespace["labthing"]
    with labthing:
        client = labthing.create_app().test_client()
        response = client.post(
            "/reader/actions/read_plate", json={"seconds": 0.3}, headers={"Prefer": "wait=10"}
        )
        record = response.get_json()
        assert record["status"] == "completed", record
        assert record["output"] == [0.12, 0.48, 0.95] and record["checks"] >= 1
        started = client.post(
            "/reader/actions/read_plate", json={"seconds": 60}, headers={"Prefer": "wait=0.2"}
        ).get_json()
        cancelled = client.delete(f"/actions/{started['id']}?timeout=5")
        assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"


def test_delete_is_202_while_a_check_runs_then_409_once_it_ended(
    served: tuple[LabThing, FlaskClient],
) -> None:
    labthing, client = served
    analyser = labthing.thing("analyser")
    assert isinstance(analyser, Analyser)
    record = client.post(
        "/analyser/actions/analyse",
        json={"seconds": 60, "check": "held_poll", "delay": 0},
        headers={"Prefer": "respond-async"},
    ).get_json()
    assert analyser.holding.wait(5)
    stopping = client.delete(f"/actions/{record['id']}?timeout=0.1")
    assert stopping.status_code == 202
    assert stopping.get_json()["cancelRequested"] is True
    analyser.gate.set()
    assert wait_for_end(client, record["id"])["status"] == "cancelled"
    assert client.delete(f"/actions/{record['id']}").status_code == 409
    assert len(analyser.aborted) == 1
