"""Requests per second of the served demo lab: GET of a property, POST of an instant action.

Run from the repository root with labthings installed and `wrk` on PATH
(`apt-get install wrk`)::

    python bench/serve_throughput.py [--seconds 5] [--runs 3]

It starts `labthings serve examples/microscope.py:labthing` on a free loopback port,
runs `wrk` with 8 keep-alive connections against `GET /light/properties/brightness` and
`POST /light/actions/toggle` (an action that returns at once, so the reply holds its
output), prints the median run of each as a markdown table, and stops the server.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))

from served import ServedLab  # noqa: E402
from wrk import run_wrk  # noqa: E402


def median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run with the median requests/s."""
    ordered = sorted(runs, key=lambda run: run["rps"])
    return ordered[len(ordered) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    arguments = parser.parse_args()
    lab = ServedLab(f"{ROOT / 'examples' / 'microscope.py'}:labthing")
    try:
        record = requests.post(f"{lab.url}light/actions/toggle", json={}, timeout=5).json()
        assert record["status"] == "completed" and isinstance(record["output"], bool)
        workloads: dict[str, dict[str, Any]] = {
            "GET /light/properties/brightness": {"url": f"{lab.url}light/properties/brightness"},
            "POST /light/actions/toggle": {
                "url": f"{lab.url}light/actions/toggle",
                "method": "POST",
                "body": {},
            },
        }
        print("| workload | req/s (median run) | all runs | p50 ms | p99 ms | errors |")
        print("|---|---|---|---|---|---|")
        for name, request in workloads.items():
            runs = [run_wrk(seconds=arguments.seconds, **request) for _ in range(arguments.runs)]
            best = median_run(runs)
            rates = ", ".join(f"{run['rps']:.0f}" for run in runs)
            errors = sum(run["errors"] + run["non2xx"] for run in runs)
            print(
                f"| {name} | {best['rps']:.0f} | {rates} | {best['p50']:.2f} "
                f"| {best['p99']:.2f} | {errors} |"
            )
    finally:
        lab.stop()


if __name__ == "__main__":
    main()
