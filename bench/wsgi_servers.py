"""Choose the HTTP engine of ``labthings serve``: each candidate against issue 9, in one run.

Linux only (the engines are cross-platform; the harness reads /proc and sends SIGTERM).
Run from the repository root with the test virtual environment (``pip install -e
".[test]" cheroot waitress hypercorn``) and ``wrk`` on PATH (``apt-get install wrk``)::

    python bench/wsgi_servers.py                  # every engine, about 8 minutes
    python bench/wsgi_servers.py --only granian --runs 1

Each engine (bench/engines.py) serves labthings' test lab (tests/support/lab_for_tests.py)
in a subprocess on a free 127.0.0.1 port, with ``--threads`` threads, and is measured on:

* speed: ``wrk -t1 -c8`` GET of a property, ``--runs`` runs, median run by req/s;
* slowloris: 300 sockets sending a request head one byte every 3 s, and then 300 silent
  sockets (reopened when closed), each held ``--hold`` s while a GET of the property is
  timed every 0.2 s on a new connection (median and max latency, ms);
* streams: ``--streams`` open ``GET /events`` streams, then GETs timed for 4 s, the
  server's thread count and RSS;
* limits: a 128 KiB header; 300 MB bodies on GET and POST, with Content-Length and
  chunked (status, MB the client had sent when the answer came, peak RSS);
* shutdown: SIGTERM with a 30 s action running, 5 open streams and 20 slowloris
  sockets: seconds to exit, exit code, whether every Thing's ``__exit__`` ran, and how
  many streams ended cleanly (chunked terminator).

It prints versions and a markdown table; loopback only, every wait bounded, every
subprocess stopped (killed on timeout), every socket closed.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))

from attacks import (  # noqa: E402
    Silent,
    Slowloris,
    Streams,
    get_latency,
    keep_busy,
    latencies_while,
    proc_status,
    send_body,
    summary,
)
from engines import SERVE  # noqa: E402
from systems import stop_process  # noqa: E402
from wrk import run_wrk  # noqa: E402

HOST = "127.0.0.1"
PROPERTY = "/calc/properties/value"
BODY = 300 * 1024 * 1024


class Served:
    """One engine serving the test lab in a subprocess."""

    def __init__(self, engine: str, threads: int, record: Path | None = None) -> None:
        with socket.socket() as probe:  # a free port; the child binds it right after
            probe.bind((HOST, 0))
            self.port = int(probe.getsockname()[1])
        env = {**os.environ, "LABTHINGS_TEST_RECORD": str(record or "")}
        command = [sys.executable, __file__, "--serve", engine, "--port", str(self.port)]
        self.process = subprocess.Popen(
            [*command, "--threads", str(threads)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and self.process.poll() is None:
            if get_latency(self.port, timeout=1) < float("inf"):
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{engine} did not start on port {self.port}")

    def status(self) -> dict[str, int]:
        return proc_status(self.process.pid)

    def stop(self, timeout: float = 20) -> tuple[float, int | None]:
        """SIGTERM, bounded wait, kill on timeout; (seconds to exit, exit code or None)."""
        started = time.monotonic()
        if not stop_process(self.process, timeout):
            return float("inf"), None
        return time.monotonic() - started, self.process.returncode


def speed(served: Served, runs: int, seconds: int) -> dict[str, Any]:
    found = sorted(
        (run_wrk(f"http://{HOST}:{served.port}{PROPERTY}", seconds) for _ in range(runs)),
        key=lambda run: run["rps"],
    )
    row = dict(found[len(found) // 2])
    row["all"] = [round(run["rps"]) for run in found]
    return row


def under_attack(served: Served, attack: Slowloris | Silent, hold: float) -> str:
    try:
        idle_threads = served.status()["Threads"]
        latencies = latencies_while(attack.tick, served.port, hold)
        threads = served.status()["Threads"]
        median, worst = summary(latencies)
        return (
            f"{median:.1f} / {_ms(worst)} ms, {attack.open} open, {attack.reopened} reopened,"
            f" threads {idle_threads}→{threads}"
        )
    finally:
        attack.close()


def streams(served: Served, count: int) -> str:
    before = served.status()
    held = Streams(served.port, count)
    try:
        held.tick()
        statuses = ", ".join(
            f"{held.statuses.count(status)}×{status or 'failed'}"
            for status in sorted(set(held.statuses))
        )
        latencies = latencies_while(held.tick, served.port, 4)
        after = served.status()
        median, worst = summary(latencies)
        return (
            f"{statuses}; GET {median:.1f} / {_ms(worst)} ms; threads"
            f" {before['Threads']}→{after['Threads']}; RSS {before['VmRSS'] // 1024}→"
            f"{after['VmRSS'] // 1024} MiB"
        )
    finally:
        held.close()


def header_limit(served: Served) -> str:
    with socket.create_connection((HOST, served.port), timeout=5) as sock:
        try:
            head = f"GET {PROPERTY} HTTP/1.1\r\nHost: {HOST}\r\nX-Big: {'a' * 128 * 1024}\r\n\r\n"
            sock.sendall(head.encode())
            reply = sock.recv(64).split(b"\r\n")[0].decode()
        except OSError as error:
            reply = type(error).__name__
    return reply.removeprefix("HTTP/1.1 ") or "closed"


def bodies(served: Served) -> str:
    parts = []
    for method, path in (("GET", PROPERTY), ("POST", "/calc/actions/add")):
        for chunked in (False, True):
            status, sent = send_body(served.port, method, path, BODY, chunked=chunked)
            kind = "chunked" if chunked else "length"
            parts.append(f"{method} {kind}: {status or 'closed'} after {sent / 2**20:.0f} MB")
    peak = served.status()["VmHWM"] // 1024
    alive = get_latency(served.port) < float("inf")
    return "; ".join(parts) + f"; peak RSS {peak} MiB; {'answers' if alive else 'DEAD'}"


def shutdown(engine: str, threads: int) -> str:
    with tempfile.TemporaryDirectory() as folder:
        record = Path(folder) / "record.txt"
        served = Served(engine, threads, record)
        streams, slowloris = keep_busy(served.port)
        try:
            time.sleep(0.3)
            took, code = served.stop()
            ended = sum(_ended_cleanly(sock) for sock in streams.sockets if sock is not None)
        finally:
            streams.close()
            slowloris.close()
        closed = record.read_text().splitlines().count("exit") == 1
    return (
        f"exit {took:.2f} s, code {code}, __exit__ {'ran' if closed else 'NOT run'},"
        f" {ended}/5 streams ended cleanly"
    )


def _ended_cleanly(sock: socket.socket, timeout: float = 5) -> bool:
    """True if the chunked stream on `sock` ends with its terminating chunk then EOF."""
    data = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError:
        return False
    return data.endswith(b"0\r\n\r\n")


def _ms(value: float) -> str:
    return "∞" if value == float("inf") else f"{value:.0f}"


def bench(engine: str, arguments: argparse.Namespace) -> dict[str, Any]:
    row: dict[str, Any] = {}
    served = Served(engine, arguments.threads)
    try:
        row["idle"] = served.status()
        row["speed"] = speed(served, arguments.runs, arguments.seconds)
        row["header"] = header_limit(served)
        row["body"] = bodies(served)
    finally:
        served.stop()
    for name, attack in (("slowloris", Slowloris), ("silent", Silent)):
        served = Served(engine, arguments.threads)
        try:
            row[name] = under_attack(served, attack(served.port, 300), arguments.hold)
        finally:
            served.stop()
    served = Served(engine, arguments.threads)
    try:
        row["streams"] = streams(served, arguments.streams)
    finally:
        served.stop()
    row["shutdown"] = shutdown(engine, arguments.threads)
    return row


def versions() -> str:
    packages = ["flask", "werkzeug", "cheroot", "waitress", "hypercorn", "granian"]
    parts = [f"{name} {importlib.metadata.version(name)}" for name in packages]
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10)
    parts.append((wrk.stdout + wrk.stderr).split(" [")[0])
    return f"Python {sys.version.split()[0]}, " + ", ".join(parts)


def serve_child(engine: str, port: int, threads: int) -> None:
    """The subprocess: serve the test lab on `engine` until SIGTERM."""
    from lab_for_tests import make_labthing

    SERVE[engine](make_labthing(), port, threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", choices=list(SERVE), default=list(SERVE))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--hold", type=float, default=15, help="seconds each attack is held")
    parser.add_argument("--streams", type=int, default=600)
    parser.add_argument("--threads", type=int, default=1024)
    parser.add_argument("--serve", choices=list(SERVE), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.serve:
        return serve_child(arguments.serve, arguments.port, arguments.threads)
    print(versions(), f"; {os.cpu_count()} cores, --threads {arguments.threads}\n", flush=True)
    columns = {
        "engine": lambda r: r["engine"],
        "GET req/s median [runs], p50/p99 ms": lambda r: (
            f"{r['speed']['rps']:.0f} {r['speed']['all']},"
            f" {r['speed']['p50']:.2f}/{r['speed']['p99']:.2f}"
        ),
        "threads, RSS idle": lambda r: f"{r['idle']['Threads']}, {r['idle']['VmRSS'] // 1024} MiB",
        "GET during 300 slowloris: median / max": lambda r: r["slowloris"],
        "GET during 300 silent: median / max": lambda r: r["silent"],
        f"{arguments.streams} streams": lambda r: r["streams"],
        "128 KiB header": lambda r: r["header"],
        "300 MB bodies": lambda r: r["body"],
        "SIGTERM (30 s task, 5 streams, 20 slowloris)": lambda r: r["shutdown"],
    }
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for engine in arguments.only:
        row = {"engine": engine, **bench(engine, arguments)}
        print("| " + " | ".join(cell(row) for cell in columns.values()) + " |", flush=True)


if __name__ == "__main__":
    main()
