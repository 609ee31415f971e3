"""A full history: what 100,000 finished invocations with 10 kB outputs cost.

Run from the repository root with labthings installed::

    python bench/history.py [--count 100000] [--data-dir DIR]

1. fills a data directory through the task runner, in-process (several threads
   starting invocations of an action that returns about 10 kB of JSON);
2. serves it with `labthings serve --data-dir DIR` and reports the restart time (process
   start to listening, a bare start on an empty directory for comparison), the server's
   resident memory, the database and blob sizes, and `GET /actions?limit=100` latency
   with `wrk` (one keep-alive connection, 5 s; the server's time, without a Python
   client's parsing) and, for comparison, with `requests`.

Prints a markdown table; the server is stopped and a temporary directory removed at the
end.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))
sys.path.insert(0, str(ROOT / "bench"))

from history_lab import make_labthing  # noqa: E402
from served import ServedLab  # noqa: E402
from wrk import run_wrk  # noqa: E402

TARGET = f"{ROOT / 'bench' / 'history_lab.py'}:make_labthing"


def fill(folder: Path, count: int, threads: int = 4) -> float:
    """Finish `count` invocations into the history in `folder`; invocations per second."""
    labthing = make_labthing()
    labthing.use_data_dir(folder)
    entry = labthing.registry.get("recorder")
    affordance = type(entry.thing).actions()["spectrum"]
    share = count // threads

    def submit(n: int) -> None:
        for _ in range(n):
            labthing.runner.invoke(entry, affordance, {}).wait(30)

    started = time.perf_counter()
    workers = [threading.Thread(target=submit, args=(share,)) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    labthing.close()
    return share * threads / elapsed


def served_start(folder: Path) -> tuple[ServedLab, float]:
    """A server on `folder` and the seconds from starting the process to listening."""
    started = time.perf_counter()
    lab = ServedLab(TARGET, startup_timeout=120, extra=["--data-dir", str(folder)])
    return lab, time.perf_counter() - started


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def size_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(file.stat().st_size for file in files) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--data-dir", type=Path, help="keep the filled history here")
    arguments = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="labthings-history-"))
    folder = arguments.data_dir or scratch / "full"
    try:
        empty_lab, empty_start = served_start(scratch / "empty")
        empty_lab.stop()
        rate = fill(folder, arguments.count)
        lab, full_start = served_start(folder)
        try:
            listing = run_wrk(f"{lab.url}actions?limit=100", seconds=5, connections=1)
            session = requests.Session()
            url = f"{lab.url}actions?limit=100"
            for _ in range(5):
                session.get(url, timeout=10).raise_for_status()
            times = []
            for _ in range(50):
                began = time.perf_counter()
                response = session.get(url, timeout=10)
                times.append(time.perf_counter() - began)
                assert len(response.json()) == 100
            body_kb = len(response.content) / 1000
            rss = resident_mb(lab.process.pid)
        finally:
            lab.stop()
        p90 = statistics.quantiles(times, n=10)[-1]
        blobs = size_mb(folder / "blobs") if (folder / "blobs").exists() else 0.0
        rows = [
            ("invocations stored", f"{arguments.count:,} (filled at {rate:,.0f}/s)"),
            ("database", f"{size_mb(folder / 'labthings.sqlite3'):,.1f} MB"),
            ("blobs", f"{blobs:,.1f} MB"),
            ("server RSS with the full history", f"{rss:,.1f} MB"),
            ("restart: process start to listening, full history", f"{full_start:.2f} s"),
            ("the same on an empty data directory", f"{empty_start:.2f} s"),
            (
                "GET /actions?limit=100, wrk -c1: p50 / p99",
                f"{listing['p50']:.2f} / {listing['p99']:.2f} ms ({listing['rps']:.0f} req/s)",
            ),
            (
                "the same with Python requests: median / p90",
                f"{statistics.median(times) * 1000:.2f} / {p90 * 1000:.2f} ms",
            ),
            ("GET /actions?limit=100, body", f"{body_kb:,.0f} kB"),
        ]
        print("| measurement | result |")
        print("|---|---|")
        for name, value in rows:
            print(f"| {name} | {value} |")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
