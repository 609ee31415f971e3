"""How fast live updates reach a watcher, and what watchers cost everyone else.

Run from the repository root with labthings installed and `wrk` on PATH::

    python bench/live_updates.py [--updates 300] [--watchers 100] [--seconds 5] [--runs 3]

It serves `bench/live_app.py` with `labthings serve` on a free loopback port, then:

1. latency: a client watches `GET /actions/events` (Server-Sent Events) while an action
   calls `update_task_progress` every 10 ms with `time.time()` as its message; the
   latency of each update is its arrival time minus that stamp (median, p90, p99);
2. throughput: `wrk` (8 keep-alive connections) on `GET /pulse/properties/value` with no
   event-stream clients, then with `--watchers` clients holding `/actions/events` open,
   and the latency measurement again while they are connected.

Prints a markdown table; everything stops at the end.
"""

from __future__ import annotations

import argparse
import json
import selectors
import socket
import statistics
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))

from served import ServedLab  # noqa: E402
from wrk import run_wrk  # noqa: E402


def progress_latencies(url: str, updates: int, thing: str = "pulse") -> list[float]:
    """Milliseconds from update_task_progress to this SSE client, one per update.

    `url` ends with '/'; `thing` must have the `pulse` action of `bench/live_app.py`.
    """
    latencies: list[float] = []
    with requests.get(f"{url}actions/events?action=pulse", stream=True, timeout=(5, 30)) as stream:
        response = requests.post(
            f"{url}{thing}/actions/pulse",
            json={"count": updates, "interval": 0.01},
            headers={"Prefer": "respond-async"},
            timeout=10,
        )
        task_id = response.json()["id"]
        event = ""
        for line in stream.iter_lines(decode_unicode=True):
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data = json.loads(line[5:])
                if event == "update" and data["id"] == task_id and data["message"]:
                    latencies.append((time.time() - float(data["message"])) * 1000)
                if event == "record" and data["id"] == task_id:
                    break
    return latencies


class Watchers:
    """`count` raw sockets holding `/actions/events` open, drained by one thread."""

    def __init__(self, url: str, count: int) -> None:
        address = urlsplit(url)
        self._selector = selectors.DefaultSelector()
        self._stop = threading.Event()
        self.sockets = []
        for _ in range(count):
            connection = socket.create_connection((address.hostname, address.port), timeout=5)
            connection.sendall(b"GET /actions/events HTTP/1.1\r\nHost: bench\r\n\r\n")
            connection.setblocking(False)
            self._selector.register(connection, selectors.EVENT_READ)
            self.sockets.append(connection)
        self.received = 0
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.2):
                try:
                    self.received += len(key.fileobj.recv(65536))  # type: ignore[union-attr]
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for connection in self.sockets:
            connection.close()


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return f"{statistics.median(ordered):.2f} / {pick(0.9):.2f} / {pick(0.99):.2f}"


def listing(median: float, runs: list[float]) -> str:
    return f"{median:.0f}; " + ", ".join(f"{rate:.0f}" for rate in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=300)
    parser.add_argument("--watchers", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    arguments = parser.parse_args()
    lab = ServedLab(f"{ROOT / 'bench' / 'live_app.py'}:labthing", extra=["--threads", "160"])
    try:
        url = lab.url
        progress_latencies(url, 20)  # warm up
        alone = progress_latencies(url, arguments.updates)
        property_url = f"{url}pulse/properties/value"
        quiet = [run_wrk(property_url, arguments.seconds) for _ in range(arguments.runs)]
        watchers = Watchers(url, arguments.watchers)
        try:
            time.sleep(1)
            busy = [run_wrk(property_url, arguments.seconds) for _ in range(arguments.runs)]
            crowded = progress_latencies(url, arguments.updates)
        finally:
            watchers.close()
        rates = {
            name: [run["rps"] for run in runs] for name, runs in (("quiet", quiet), ("busy", busy))
        }
        median_quiet, median_busy = (statistics.median(rates[name]) for name in ("quiet", "busy"))
        watching = f"{arguments.watchers} SSE clients"
        rows = [
            (
                f"progress -> SSE latency, ms (median / p90 / p99), {len(alone)} updates",
                summary(alone),
            ),
            (f"the same with {watching} connected", summary(crowded)),
            (
                "GET property req/s, no SSE clients (median; runs)",
                listing(median_quiet, rates["quiet"]),
            ),
            (f"GET property req/s, {watching} (median; runs)", listing(median_busy, rates["busy"])),
            ("ratio with / without clients", f"{median_busy / median_quiet:.2f}"),
            ("wrk errors and non-2xx", str(sum(r["errors"] + r["non2xx"] for r in quiet + busy))),
        ]
        print("| measurement | value |")
        print("|---|---|")
        for name, value in rows:
            print(f"| {name} | {value} |")
    finally:
        lab.stop()


if __name__ == "__main__":
    main()
