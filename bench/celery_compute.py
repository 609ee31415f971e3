"""Compute actions on Celery workers against the in-process thread executor.

Run from the repository root with labthings[celery] installed and Redis available
(Debian's redis-server; installed first if missing and we are root)::

    python bench/celery_compute.py [--count 100] [--frames 40] [--size 256]

Serves `examples/compute.py` (`labthings serve --ephemeral`) three ways: without a
broker (the action runs in the server's task threads), then with a Redis broker and one
worker process, then two (`labthings worker --concurrency N`). For each it measures:

- latency: `--sequential` invocations one after another, each a POST that waits for the
  result (`Prefer: wait=30`); the median and 90th percentile, for a tiny stack (the
  machinery's own cost) and for the `--frames` x `--size`^2 stack;
- throughput: `--count` invocations of that stack posted at once, from the first
  `timeRequested` to the last `timeCompleted` of their records, and their mean latency.

Prints a markdown table; everything it starts is stopped at the end.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))

from celery_worker import CeleryWorker  # noqa: E402
from compute_client import LabClient  # noqa: E402
from redis_server import RedisServer  # noqa: E402
from served import ServedLab  # noqa: E402

EXAMPLE = str(ROOT / "examples" / "compute.py")
TARGET = f"{EXAMPLE}:labthing"


def latencies(lab: LabClient, body: dict[str, Any], runs: int) -> list[float]:
    """Seconds from POST to the completed record, one invocation after another."""
    taken = []
    for _ in range(runs):
        began = time.perf_counter()
        record = lab.start("average_stack", body, wait=30)
        taken.append(time.perf_counter() - began)
        assert record["status"] == "completed", record
    return taken


def batch(lab: LabClient, body: dict[str, Any], count: int) -> tuple[float, float]:
    """(invocations per second, mean seconds from request to completion) of `count`
    invocations posted at once."""
    with ThreadPoolExecutor(8) as pool:
        started = list(pool.map(lambda _: lab.start("average_stack", body), range(count)))
    records = [lab.final(record["id"], timeout=600) for record in started]
    assert all(record["status"] == "completed" for record in records), records[0]
    requested = [_moment(record["timeRequested"]) for record in records]
    completed = [_moment(record["timeCompleted"]) for record in records]
    span = max(completed) - min(requested)
    each = statistics.fmean(done - asked for asked, done in zip(requested, completed, strict=True))
    return count / span, each


def _moment(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def measure(lab: LabClient, options: argparse.Namespace) -> dict[str, float]:
    stack = {"frames": options.frames, "size": options.size}
    tiny = {"frames": 1, "size": 8}
    latencies(lab, tiny, 3)  # warm up (imports, connections, the worker's first fork)
    small = latencies(lab, tiny, options.sequential)
    large = latencies(lab, stack, options.sequential)
    rate, each = batch(lab, stack, options.count)
    return {
        "tiny_median": statistics.median(small),
        "tiny_p90": statistics.quantiles(small, n=10)[-1],
        "stack_median": statistics.median(large),
        "stack_p90": statistics.quantiles(large, n=10)[-1],
        "throughput": rate,
        "batch_latency": each,
    }


def run(options: argparse.Namespace) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    with ExitStack() as stack:
        served = ServedLab(TARGET, extra=["--ephemeral"])
        stack.callback(served.stop)
        results["thread (in-process)"] = measure(LabClient(served.url, "stacks"), options)
        served.stop()
        redis = RedisServer()
        stack.callback(redis.close)
        served = ServedLab(TARGET, extra=["--ephemeral", "--celery-broker", redis.url])
        stack.callback(served.stop)
        for processes in (1, 2):
            worker = CeleryWorker(redis.url, [EXAMPLE], concurrency=processes)
            try:
                lab = LabClient(served.url, "stacks")
                results[f"celery, {processes} worker process(es)"] = measure(lab, options)
            finally:
                worker.stop()
    return results


def report(results: dict[str, dict[str, float]], options: argparse.Namespace) -> None:
    base = results["thread (in-process)"]
    print(
        f"\n{options.count} invocations of average_stack ({options.frames} frames of "
        f"{options.size}x{options.size}); latencies over {options.sequential} sequential "
        "POSTs that wait for the result\n"
    )
    print(
        "| executor | tiny: median / p90 (ms) | stack: median / p90 (ms) | added (ms) "
        "| throughput (/s) | mean latency in the batch (s) |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for name, row in results.items():
        added = 1000 * (row["tiny_median"] - base["tiny_median"])
        print(
            f"| {name} | {1000 * row['tiny_median']:.0f} / {1000 * row['tiny_p90']:.0f} "
            f"| {1000 * row['stack_median']:.0f} / {1000 * row['stack_p90']:.0f} "
            f"| {added:+.0f} | {row['throughput']:.1f} | {row['batch_latency']:.2f} |"
        )
    print(
        "\nadded: the tiny stack's median latency minus the thread executor's, i.e. what "
        "sending, queueing, the worker's reports and the server's checks add"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100, help="invocations in the batch")
    parser.add_argument("--sequential", type=int, default=20, help="POSTs per latency")
    parser.add_argument("--frames", type=int, default=40, help="frames in each stack")
    parser.add_argument("--size", type=int, default=256, help="pixels on a frame's side")
    options = parser.parse_args()
    report(run(options), options)


if __name__ == "__main__":
    main()
