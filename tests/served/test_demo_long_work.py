"""The demo lab's lengthy work, served for real: an external program, a remote job on the
simulated analysis service, a cached dark reference and a de-duplicated homing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from served import ROOT, ServedLab

DEMO = ROOT / "examples" / "microscope.py"
ASYNC = {"Prefer": "respond-async"}


@pytest.fixture(scope="module")
def lab() -> Iterator[ServedLab]:
    served = ServedLab(f"{DEMO}:labthing")
    try:
        yield served
    finally:
        served.stop()


def follow(lab: ServedLab, task_id: str, seconds: float = 60) -> list[dict[str, Any]]:
    """Every version of the record seen by long-polling until it ends (bounded)."""
    response = requests.get(f"{lab.url}actions/{task_id}", timeout=10)
    seen = [response.json()]
    deadline = time.monotonic() + seconds
    while seen[-1]["status"] in ("pending", "running") and time.monotonic() < deadline:
        response = requests.get(
            f"{lab.url}actions/{task_id}",
            headers={"Prefer": "wait=5", "If-None-Match": response.headers["ETag"]},
            timeout=10,
        )
        seen.append(response.json())
    return seen


def test_fit_peak_runs_the_external_program_with_its_progress_and_log(lab: ServedLab) -> None:
    started = requests.post(
        f"{lab.url}analysis/actions/fit_peak",
        json={"centre": 530, "width": 10, "bootstrap": 20, "delay": 0.05},
        headers=ASYNC,
        timeout=10,
    ).json()
    seen = follow(lab, started["id"])
    final = seen[-1]
    assert final["status"] == "completed", final
    assert abs(final["output"]["centre"] - 530) < 1
    assert any(0 < (r.get("progress") or 0) < 100 for r in seen)  # progress from status.txt
    lines = [entry["message"] for entry in final["log"]]
    assert any("fitting a Gaussian peak" in line for line in lines)  # the program's output


def test_a_peak_search_is_a_remote_job_checked_until_the_service_is_done(
    lab: ServedLab,
) -> None:
    started = requests.post(
        f"{lab.url}analysis/actions/submit_peak_search",
        json={"centre": 600, "width": 12},
        timeout=10,
    ).json()
    assert started["status"] == "running"  # the action returned at once; the job goes on
    seen = follow(lab, started["id"])
    final = seen[-1]
    assert final["status"] == "completed", final
    assert abs(final["output"]["centre_nm"] - 600) <= 1
    assert abs(final["output"]["fwhm_nm"] - 12) < 2
    assert final["checks"] >= 2
    running = [r for r in seen if r["status"] == "running"]
    assert any(r["nextCheck"] and r["estimatedRemaining"] is not None for r in running)


def test_cancelling_a_peak_search_asks_the_service_to_drop_it(lab: ServedLab) -> None:
    started = requests.post(
        f"{lab.url}analysis/actions/submit_peak_search", json={}, timeout=10
    ).json()
    response = requests.delete(f"{lab.url}actions/{started['id']}", timeout=10)
    assert response.status_code in (200, 202)
    assert follow(lab, started["id"])[-1]["status"] == "cancelled"


def test_a_dark_reference_is_cached_for_the_same_input_only(lab: ServedLab) -> None:
    url = f"{lab.url}spectrometer/actions/dark_reference"
    first = requests.post(url, json={"integration_time": 20, "averages": 2}, timeout=30)
    assert first.status_code == 201 and first.json()["status"] == "completed"
    again = requests.post(url, json={"integration_time": 20, "averages": 2}, timeout=30)
    assert again.status_code == 200
    assert again.headers["LabThings-Reused"] == "cache"
    assert again.json()["id"] == first.json()["id"]
    other = requests.post(url, json={"integration_time": 30, "averages": 2}, timeout=30)
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]


def test_homing_twice_at_once_makes_one_trip(lab: ServedLab) -> None:
    moved = requests.post(f"{lab.url}stage/actions/move", json={"x": 4000, "y": 1000}, timeout=30)
    assert moved.json()["status"] == "completed"

    def home(_: int) -> requests.Response:
        return requests.post(f"{lab.url}stage/actions/home", headers=ASYNC, timeout=10)

    with ThreadPoolExecutor(2) as pool:
        replies = list(pool.map(home, range(2)))
    assert sorted(reply.status_code for reply in replies) == [200, 201]
    assert len({reply.json()["id"] for reply in replies}) == 1
    reused = next(reply for reply in replies if reply.status_code == 200)
    assert reused.headers["LabThings-Reused"] == "dedupe"
    assert follow(lab, replies[0].json()["id"])[-1]["output"] == [0, 0]


def test_a_target_outside_the_stages_limits_is_refused_input(lab: ServedLab) -> None:
    """The schema allows any 32-bit target, the controller's soft limits do not: the
    action refuses it as input, a 422 from the synchronous form, before anything moves."""
    url = f"{lab.url}stage/actions/move"
    refused = requests.post(f"{url}?sync=true", json={"x": 10**9, "y": 0}, timeout=30)
    assert refused.status_code == 422
    problem = refused.json()
    assert problem["type"] == "urn:labthings:problem:input-refused"
    assert set(problem["errors"]) == {"x", "y"} and "limits" in problem["detail"]
    record = requests.post(url, json={"x": 10**9, "y": 0}, timeout=30).json()
    assert record["status"] == "error" and record["error"]["type"] == problem["type"]
    relative = requests.post(
        f"{lab.url}stage/actions/move_relative?sync=true",
        json={"dx": -(10**9), "dy": 0},
        timeout=30,
    )
    assert relative.status_code == 422 and set(relative.json()["errors"]) == {"dx", "dy"}
