"""The workloads W1-W7 of issue 4, each run against a served system from its own process.

W1-W3 use wrk (`bench/wrk.py`) with 8 keep-alive connections; the others use the Python
load generator (`bench/loadgen.py`), since they follow actions to their results. Each
function returns figures keyed as in `report.METRICS`.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from attacks import Slowloris, Streams, latencies_while, summary
from live_updates import progress_latencies
from loadgen import Client, run_task
from report import Value
from systems import Server
from wrk import run_wrk_with_headers

__all__ = [
    "PHASES",
    "Phase",
    "Settings",
    "throughput",
    "w4",
    "w5",
    "merge_w5_bursts",
    "w6",
    "w7",
    "w8",
]

Figures = dict[str, Value]


@dataclass(frozen=True)
class Settings:
    """How long and how much: the full run, or `quick()` for a smoke run."""

    wrk_seconds: int = 4
    wrk_runs: int = 5
    w4_repeat: int = 10
    w5_count: int = 200
    w5_bursts: int = 3
    w6_count: int = 2000
    list_repeat: int = 20
    w7_updates: int = 300
    w8_seconds: float = 10.0

    @classmethod
    def quick(cls) -> Settings:
        """About two minutes in all: short wrk runs, fewer repetitions, fewer W6 calls."""
        return cls(
            wrk_seconds=2,
            wrk_runs=1,
            w4_repeat=5,
            w5_bursts=1,
            w6_count=500,
            list_repeat=10,
            w8_seconds=4,
        )


# (figure prefix, HTTP method, JSON body, whether the floor takes part)
_WRK_WORKLOADS = (
    ("w1", "GET", None, True),
    ("w2", "PUT", 1.5, True),
    ("w3", "POST", {"a": 1, "b": 2}, False),
)


# Every client here says it wants JSON: python-labthings answers 500 to a request
# without an Accept header (wrk sends none by default).
_HEADERS = {"Accept": "application/json"}


def _wrk_url(server: Server, prefix: str) -> str:
    path = server.system.add_path if prefix == "w3" else server.system.property_path
    return server.url + str(path)


def add_reply_holds_output(server: Server) -> str:
    """W3's check: does one POST add(1,2) already answer with the finished output 3?"""
    client = Client(server.url)
    try:
        reply = client.request("POST", str(server.system.add_path), {"a": 1, "b": 2})
    finally:
        client.close()
    record = reply.body if isinstance(reply.body, dict) else {}
    if record.get("status") == "completed" and record.get("output") == 3:
        return "yes"
    return f"no ({reply.status}, status {record.get('status')})"


def throughput(servers: Mapping[str, Server], settings: Settings) -> dict[str, Figures]:
    """W1-W3 with wrk, interleaving the systems run by run so that outside load hits all.

    Each system is warmed up for 1 s first; the run with the median req/s is reported,
    and every run's req/s in order (`<prefix>_rps_runs`), so that the report can compare
    two systems run by run. Every other run takes the systems in reverse order, so that
    neither of two neighbours always goes first.
    """
    runs: dict[tuple[str, str], list[dict[str, float]]] = {}
    figures: dict[str, Figures] = {name: {} for name in servers}
    for name, server in servers.items():
        if server.system.has_actions:
            figures[name]["w3_output"] = add_reply_holds_output(server)
    for run in range(settings.wrk_runs):
        for prefix, method, body, floor_too in _WRK_WORKLOADS:
            turns = list(servers.items())
            for name, server in turns if run % 2 == 0 else reversed(turns):
                if not (server.system.has_actions or floor_too):
                    continue
                url = _wrk_url(server, prefix)
                if run == 0:
                    run_wrk_with_headers(url, 1, 8, method, body, _HEADERS)
                measured = run_wrk_with_headers(
                    url, settings.wrk_seconds, 8, method, body, _HEADERS
                )
                runs.setdefault((name, prefix), []).append(measured)
    for (name, prefix), taken in runs.items():
        median = sorted(taken, key=lambda r: r["rps"])[len(taken) // 2]
        figures[name].update(
            {
                f"{prefix}_rps": median["rps"],
                f"{prefix}_rps_runs": tuple(r["rps"] for r in taken),
                f"{prefix}_p50": median["p50"],
                f"{prefix}_p99": median["p99"],
                f"{prefix}_errors": int(sum(r["errors"] + r["non2xx"] for r in taken)),
            }
        )
    return figures


def w4(server: Server, settings: Settings) -> Figures:
    """W4: sequential POST sleep(0.2); reply latency and time until the result is seen.

    The client polls the record's `href` every 10 ms until it is final.
    """
    found = run_task(
        {
            "task": "invoke",
            "url": server.url + str(server.system.sleep_path),
            "body": {"seconds": 0.2},
            "repeat": settings.w4_repeat,
            "poll": 0.01,
            "timeout": 10,
        },
        timeout=30 + 12 * settings.w4_repeat,
    )
    return {
        "w4_reply": found["reply_ms"],
        "w4_seen": found["seen_ms"],
        "w4_in_reply": f"{found['in_reply']}/{found['runs']}",
    }


class _PeakRss:
    """Samples a server's RSS every 10 ms in a thread, between start() and stop()."""

    def __init__(self, server: Server) -> None:
        self._server = server
        self._done = threading.Event()
        self.peak = server.rss_mib()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.wait(0.01):
            try:
                self.peak = max(self.peak, self._server.rss_mib())
            except (OSError, StopIteration):
                return

    def __enter__(self) -> _PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(5)


def _list(server: Server, settings: Settings) -> dict[str, Any]:
    return run_task(
        {
            "task": "list",
            "url": server.url + str(server.system.list_path),
            "repeat": settings.list_repeat,
            "timeout": 60,
        },
        timeout=90,
    )


def w5(server: Server, settings: Settings) -> Figures:
    """W5: `w5_count` clients POST sleep(1.0) together, then each polls its record.

    A client whose reply is unfinished polls after 50 ms, then every 500 ms, as
    labthings-fastapi's own `ThingClient` does. "Settled"
    is the latest `timeCompleted` the clients read, "seen" when the last client saw its
    result, both from the first POST. Lost: a record that disappeared or did not complete.
    """
    task = {
        "task": "burst",
        "url": server.url + str(server.system.sleep_path),
        "body": {"seconds": 1.0},
        "count": settings.w5_count,
        "first_poll": 0.05,
        "poll": 0.5,
        "timeout": 60,
    }
    with _PeakRss(server) as rss:
        found = run_task(task, timeout=120)
    listed = _list(server, settings)
    return {
        "w5_settled": found["settled_s"],
        "w5_seen": found["seen_s"],
        "w5_lost": found["lost"],
        "w5_rss": rss.peak,
        "w5_list_ms": listed["p50_ms"],
        "w5_list_items": f"{listed['items']} ({listed['kib']:.0f})",
    }


def merge_w5_bursts(bursts: list[Figures]) -> Figures:
    """W5 over several bursts, each on a fresh server: the median burst's times, the
    slowest burst's settling, and the worst of the losses and peak memory."""

    def over(key: str, combine: Callable[[list[float]], float]) -> Value:
        """`combine` of every burst's figure, or None if one burst has none."""
        numbers = [burst[key] for burst in bursts]
        if not all(isinstance(value, (int, float)) for value in numbers):
            return None
        return combine(numbers)  # type: ignore[arg-type]

    def median(key: str) -> Value:
        return over(key, statistics.median)

    def worst(key: str) -> Value:
        return over(key, max)

    return {
        "w5_settled": median("w5_settled"),
        "w5_settled_worst": worst("w5_settled"),
        "w5_seen": median("w5_seen"),
        "w5_lost": worst("w5_lost"),
        "w5_rss": worst("w5_rss"),
        "w5_list_ms": median("w5_list_ms"),
        "w5_list_items": bursts[-1]["w5_list_items"],
    }


def _settled_rss(server: Server, seconds: float = 1.0) -> float:
    """RSS once the server has been idle a moment (the median of a few samples)."""
    time.sleep(seconds)
    return statistics.median(server.rss_mib() for _ in range(5))


def w6(server: Server, settings: Settings) -> Figures:
    """W6: `w6_count` POST add calls over 8 connections; RSS growth and the list after.

    50 calls warm the server up before the first RSS reading. The growth over a second
    `w6_count` calls tells a one-time cost (a server's worker threads each touching their
    stack on first use) from one that grows with history.
    """
    add = {"task": "calls", "url": server.url + str(server.system.add_path)}
    add |= {"body": {"a": 1, "b": 2}, "connections": 8, "timeout": 300}
    run_task({**add, "count": 50}, timeout=120)
    before = _settled_rss(server)
    found = run_task({**add, "count": settings.w6_count}, timeout=330)
    after = _settled_rss(server)
    again = run_task({**add, "count": settings.w6_count}, timeout=330)
    growth_again = _settled_rss(server) - after
    listed = _list(server, settings)
    return {
        "w6_growth": after - before,
        "w6_growth_again": growth_again,
        "w6_list_ms": listed["p50_ms"],
        "w6_list_items": f"{listed['items']} ({listed['kib']:.0f})",
        "w6_failures": found["failures"] + again["failures"],
    }


def w8(server: Server, settings: Settings) -> Figures:
    """W8 (labthings only): a property GET on a new connection every 0.2 s, idle, with
    300 slowloris sockets open, and with as many event streams open as the server allows
    (`max_streams`, 500); medians and maxima in ms."""
    port = urlsplit(server.url).port
    assert port is not None
    path = "/" + str(server.system.property_path).lstrip("/")
    figures: Figures = {}
    idle = latencies_while(lambda: None, port, settings.w8_seconds, path=path)
    figures["w8_idle"] = statistics.median(idle) * 1000
    attacks: tuple[tuple[str, Callable[[], Slowloris | Streams]], ...] = (
        ("w8_slowloris", lambda: Slowloris(port, 300)),
        ("w8_streams", lambda: Streams(port, 500, seconds=settings.w8_seconds + 30)),
    )
    for key, make in attacks:
        attack = make()  # its sockets are open from here on
        try:
            found = latencies_while(attack.tick, port, settings.w8_seconds, path=path)
        finally:
            attack.close()
        median, worst = summary(found)
        figures[key] = median
        figures[f"{key}_max"] = worst
    return figures


def w7(server: Server, settings: Settings) -> Figures:
    """W7 (labthings only): latency from `update_task_progress` to a client watching the
    task stream (Server-Sent Events); the action stamps each progress message with the
    time it sent it, and the client subtracts that from the arrival time."""
    latencies = sorted(progress_latencies(server.url + "/", settings.w7_updates, thing="bench"))
    return {
        "w7": f"{statistics.median(latencies):.2f} ms median, "
        f"{latencies[int(0.99 * (len(latencies) - 1))]:.2f} ms p99 ({len(latencies)} updates)"
    }


def _once(settings: Settings) -> int:
    return 1


def _only(runs: list[Figures]) -> Figures:
    return runs[0]


@dataclass(frozen=True)
class Phase:
    """Steps run one after another on a fresh server of each system that takes part;
    `runs(settings)` times, each on a fresh server, the runs' figures `merge`d."""

    name: str
    steps: tuple[Callable[[Any, Settings], Figures], ...]
    systems: frozenset[str] | None = None
    """None: every system with actions."""
    needs_server: bool = True
    runs: Callable[[Settings], int] = _once
    merge: Callable[[list[Figures]], Figures] = _only


_PEERS = frozenset({"labthings", "python-labthings", "labthings-fastapi"})

PHASES = (
    Phase("W4", (w4,), systems=_PEERS),
    Phase(
        "W5", (w5,), systems=_PEERS, runs=lambda settings: settings.w5_bursts, merge=merge_w5_bursts
    ),
    Phase("W6", (w6,), systems=_PEERS),
    Phase("W7", (w7,), systems=frozenset({"labthings"})),
    Phase("W8", (w8,), systems=frozenset({"labthings"})),
)
