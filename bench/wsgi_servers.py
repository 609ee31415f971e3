"""Benchmark candidate production WSGI servers for ``labthings serve``.

Linux only (the servers are cross-platform, the harness uses wrk and SIGTERM).
Run from the repository root; needs ``flask``, ``cheroot``, ``waitress`` in the
current Python and ``wrk`` on PATH (``apt-get install wrk``)::

    python bench/wsgi_servers.py            # all configurations, ~3 minutes
    python bench/wsgi_servers.py --only cheroot-128 --runs 1

For each server configuration in CONFIGS it runs a tiny Flask 3 app (``GET
/value`` JSON, ``GET /stream`` 10 SSE events 100 ms apart) in a subprocess on a
free 127.0.0.1 port and measures:

* ``wrk -t1 -c8 -d5s --latency`` on /value, 3 runs, median run by req/s;
* keep-alive: TCP connections opened for 100 requests on one ``http.client``
  connection (ideal 1), and for 5 round-robin requests on each of 32 (ideal 32);
* streaming: arrival time of each /stream event on a raw socket;
* starvation: 100 concurrent /stream clients while 50 sequential GET /value
  requests (new connection each) are timed;
* shutdown: SIGTERM while 5 streams are in flight, time until the process
  exits, and how many events those streams still received.

It prints package versions and a markdown table (nothing is written to disk);
loopback only, every wait bounded, every subprocess stopped (killed on timeout).
"""

from __future__ import annotations

import argparse
import http.client
import importlib.metadata
import itertools
import json
import logging
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

from wrk import run_wrk

HOST = "127.0.0.1"
N_EVENTS = 10
EVENT_GAP = 0.1
# label -> (server, keyword arguments passed to it)
CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {
    "werkzeug": ("werkzeug", {}),
    "cheroot-10": ("cheroot", {"numthreads": 10}),
    "cheroot-128": (
        "cheroot",
        {"numthreads": 128, "request_queue_size": 256, "keep_alive_conn_limit": 256},
    ),
    "waitress-4": ("waitress", {"threads": 4}),
    "waitress-128": ("waitress", {"threads": 128, "connection_limit": 1000}),
}


def make_app() -> Any:
    """The Flask app under test: /value (JSON) and /stream (SSE)."""
    import flask

    app = flask.Flask("bench")

    @app.get("/value")
    def value() -> Any:
        return flask.jsonify(value=1.5)

    @app.get("/stream")
    def stream() -> Any:
        def events() -> Any:
            for i in range(N_EVENTS):
                if i:
                    time.sleep(EVENT_GAP)
                yield f"data: {json.dumps({'i': i, 't': time.time()})}\n\n"

        return flask.Response(
            events(), mimetype="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    return app


def serve(label: str, port: int) -> None:
    """Child process: run one server until SIGTERM/SIGINT (graceful stop)."""
    kind, kwargs = CONFIGS[label]
    app = make_app()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no per-request log

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # every candidate treats this as "stop cleanly"

    for name in ("SIGTERM", "SIGINT", "SIGBREAK"):  # SIGBREAK: Windows Ctrl+Break
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), interrupt)
    if kind == "werkzeug":
        from werkzeug.serving import make_server

        make_server(HOST, port, app, threaded=True).serve_forever()  # closes on ^C
    elif kind == "cheroot":
        from cheroot.wsgi import Server

        opts = dict(kwargs)
        limit = opts.pop("keep_alive_conn_limit", 10)  # not a constructor argument
        server = Server((HOST, port), app, **opts)
        server.keep_alive_conn_limit = limit  # max idle keep-alive conns (default 10)
        try:
            server.start()
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()  # joins workers, waits up to shutdown_timeout (5 s)
    else:
        from waitress import create_server

        create_server(app, host=HOST, port=port, **kwargs).run()  # handles ^C


def start_server(label: str) -> tuple[subprocess.Popen[bytes], int]:
    with socket.socket() as s:  # a free port; the child binds it right after
        s.bind((HOST, 0))
        port = int(s.getsockname()[1])
    cmd = [sys.executable, __file__, "--serve", label, "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    stop_server(proc)
    raise RuntimeError(f"{label} did not start on port {port}")


def stop_server(proc: subprocess.Popen[bytes], timeout: float = 15) -> float:
    """SIGTERM, bounded wait, kill on timeout. Returns seconds until exit."""
    t0 = time.monotonic()
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
            return float("inf")
    return time.monotonic() - t0


def keepalive_connections(port: int, clients: int, rounds: int) -> int:
    """Round-robin GETs over `clients` connections; TCP connects (ideal: clients)."""
    conns = [http.client.HTTPConnection(HOST, port, timeout=10) for _ in range(clients)]
    seen: list[object] = []  # holding references keeps id()s unique
    try:
        for _ in range(rounds):
            for conn in conns:
                conn.request("GET", "/value")
                if all(conn.sock is not s for s in seen):  # (re)connected
                    seen.append(conn.sock)
                resp = conn.getresponse()
                if resp.status != 200 or json.loads(resp.read()) != {"value": 1.5}:
                    raise RuntimeError(f"bad /value response {resp.status}")
    finally:
        for conn in conns:
            conn.close()
    return len(seen)


def read_stream(port: int, timeout: float = 30) -> list[float]:
    """Raw-socket GET /stream; returns arrival time (s) of each event."""
    times: list[float] = []
    buf = b""
    t0 = time.monotonic()
    deadline = t0 + timeout
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.sendall(b"GET /stream HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            while len(times) < N_EVENTS and time.monotonic() < deadline:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                chunk = sock.recv(65536)
                if not chunk:
                    break
                buf += chunk
                now = time.monotonic() - t0
                times += [now] * (buf.count(b"data: ") - len(times))
    except OSError:
        pass
    return times


def stream_verdict(times: list[float]) -> str:
    if len(times) < N_EVENTS:
        return f"broken ({len(times)}/{N_EVENTS} events)"
    gaps = [b - a for a, b in itertools.pairwise(times)]
    first, gap = times[0] * 1e3, statistics.median(gaps) * 1e3
    if times[-1] - times[0] < 0.05:
        return f"BUFFERED (all at {times[-1] * 1e3:.0f} ms)"
    ok = first <= 150 and all(0.05 <= g <= 0.2 for g in gaps)
    return f"{'streamed' if ok else 'irregular'} (1st {first:.0f} ms, gap {gap:.0f} ms)"


def start_streams(port: int, n: int) -> tuple[list[threading.Thread], list[list[float]]]:
    """Start n daemon threads, each reading one /stream into the shared results."""
    results: list[list[float]] = []
    threads = [
        threading.Thread(target=lambda: results.append(read_stream(port)), daemon=True)
        for _ in range(n)
    ]
    for t in threads:
        t.start()
    return threads, results


def starvation(port: int, n_streams: int) -> dict[str, Any]:
    """n_streams concurrent /stream clients; time 50 sequential GET /value meanwhile."""
    threads, results = start_streams(port, n_streams)
    time.sleep(0.2)  # let the streams connect and occupy the server
    latencies: list[float] = []
    deadline = time.monotonic() + 60
    for _ in range(50):
        if time.monotonic() > deadline:
            break
        t0 = time.monotonic()
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=30)
            conn.request("GET", "/value")
            ok = conn.getresponse().status == 200
            conn.close()
        except OSError:
            ok = False
        latencies.append((time.monotonic() - t0) * 1e3 if ok else float("inf"))
    for t in threads:
        t.join(max(0.0, deadline + 35 - time.monotonic()))
    complete = [r for r in results if len(r) == N_EVENTS]
    return {
        "med": statistics.median(latencies),
        "max": max(latencies),
        "first": latencies[0],
        "n": len(latencies),
        "complete": len(complete),
        "slowest": max((r[-1] for r in complete), default=float("nan")),
    }


def shutdown_in_flight(label: str) -> tuple[float, list[int]]:
    """SIGTERM while 5 streams run; (seconds to exit, events each stream got)."""
    proc, port = start_server(label)
    threads, results = start_streams(port, 5)
    time.sleep(0.35)
    took = stop_server(proc)
    for t in threads:
        t.join(25)
    return took, sorted(len(r) for r in results)


def bench(label: str, runs: int, seconds: int, n_streams: int) -> dict[str, Any]:
    proc, port = start_server(label)
    try:
        wrk_runs = sorted(
            (run_wrk(f"http://{HOST}:{port}/value", seconds) for _ in range(runs)),
            key=lambda r: r["rps"],
        )
        row: dict[str, Any] = dict(wrk_runs[len(wrk_runs) // 2])
        row["rps_all"] = [round(r["rps"]) for r in wrk_runs]
        row["conns"] = keepalive_connections(port, 1, 100)
        row["conns32"] = keepalive_connections(port, 32, 5)
        row["stream"] = stream_verdict(read_stream(port))
        row.update(starvation(port, n_streams))
    finally:
        stop_server(proc)
    row["stop_s"], row["stop_events"] = shutdown_in_flight(label)
    return row


def versions() -> str:
    pkgs = ["flask", "werkzeug", "cheroot", "waitress"]
    parts = [f"{p} {importlib.metadata.version(p)}" for p in pkgs]
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10)
    parts.append((wrk.stdout + wrk.stderr).split(" [")[0])
    return f"Python {sys.version.split()[0]}, " + ", ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--serve", choices=list(CONFIGS), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args.serve, args.port)
    print(versions(), "\n")
    head = (
        "| server | settings | req/s median [all runs] | p50 ms | p99 ms | wrk errors"
        " | TCP conns opened: 1 client x 100 reqs / 32 clients x 5 reqs | /stream (alone)"
        f" | GET /value during {args.streams} streams: median / max / 1st ms"
        " | streams complete, slowest s | SIGTERM with 5 streams in flight: exit s, events |"
    )
    print(head)
    print("|" + "---|" * (head.count(" | ") + 1))
    for label in args.only:
        r = bench(label, args.runs, args.seconds, args.streams)
        kind, kwargs = CONFIGS[label]
        settings = ", ".join(f"{k}={v}" for k, v in kwargs.items()) or "threaded=True"
        alive = "keep-alive" if r["conns32"] == 32 else "partly closes"
        alive = f"{r['conns']} / {r['conns32']} ({alive if r['conns'] == 1 else 'closes all'})"
        starved = "**STARVED**" if r["max"] > 500 else "ok"
        print(
            f"| {kind} | {settings} | {r['rps']:.0f} {r['rps_all']} | {r['p50']:.2f}"
            f" | {r['p99']:.2f} | {r['errors'] + r['non2xx']} | {alive}"
            f" | {r['stream']} | {starved}: {r['med']:.1f} / {r['max']:.0f} / {r['first']:.0f}"
            f" (n={r['n']}) | {r['complete']}/{args.streams}, {r['slowest']:.2f}"
            f" | {r['stop_s']:.2f}, {r['stop_events']} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
