"""The comparison table: every system's figures, labthings' ratios to each peer, targets.

Ratios are oriented so that above 1 always means labthings does better: labthings / peer
for rates, peer / labthings for times and sizes.
"""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["METRICS", "Metric", "machine", "markdown_table", "write_results"]

Value = float | int | str | tuple[float, ...] | None
Results = Mapping[str, Mapping[str, Value]]
"""system name -> metric key -> value (None: not measured for that system). A rate may
come with its runs, in the order they were measured, under `<key>_runs`."""

OURS = "labthings"


@dataclass(frozen=True)
class Metric:
    """One row of the table."""

    key: str
    workload: str
    label: str
    better: str | None = None
    """"higher", "lower", or None for figures that get no ratio."""
    digits: int = 1
    target: Callable[[Results], str] | None = None
    """Says whether labthings meets the issue's target for this row."""


def _ratio(metric: Metric, ours: Mapping[str, Value], peer: Mapping[str, Value]) -> float | None:
    """labthings' figure over the peer's (or the reverse, see the module docstring).

    Two systems whose runs took turns are compared run by run: the median of the runs'
    ratios, each between runs seconds apart, so that the machine's load drifting from
    run to run does not count as a difference between them."""
    if metric.better is None:
        return None
    ours_runs, peer_runs = ours.get(metric.key + "_runs"), peer.get(metric.key + "_runs")
    if isinstance(ours_runs, tuple) and isinstance(peer_runs, tuple):
        if len(ours_runs) == len(peer_runs) and min(ours_runs + peer_runs, default=0) > 0:
            ratios = [_oriented(metric, a, b) for a, b in zip(ours_runs, peer_runs, strict=True)]
            return statistics.median(ratios)
    value, other = ours.get(metric.key), peer.get(metric.key)
    if not isinstance(value, (int, float)) or not isinstance(other, (int, float)):
        return None
    if value <= 0 or other <= 0:
        return None
    return _oriented(metric, value, other)


def _oriented(metric: Metric, ours: float, peer: float) -> float:
    return ours / peer if metric.better == "higher" else peer / ours


def _at_least(key: str, minimums: Mapping[str, float]) -> Callable[[Results], str]:
    """Target: labthings' ratio to each named peer is at least its minimum."""

    def check(results: Results) -> str:
        metric = next(m for m in METRICS if m.key == key)
        parts = []
        for peer, minimum in minimums.items():
            ratio = _ratio(metric, results[OURS], results.get(peer, {}))
            verdict = "?" if ratio is None else ("ok" if ratio >= minimum else "MISSED")
            parts.append(f"≥{minimum}x {peer}: {verdict}")
        return "; ".join(parts)

    return check


def _at_most(key: str, limit: float, unit: str) -> Callable[[Results], str]:
    """Target: labthings' figure is at most `limit`."""

    def check(results: Results) -> str:
        value = results[OURS].get(key)
        if not isinstance(value, (int, float)):
            return f"≤{limit}{unit}: ?"
        return f"≤{limit}{unit}: " + ("ok" if value <= limit else "MISSED")

    return check


W8 = "W8 GET under attack"


def _w8(key: str) -> Callable[[Results], str]:
    """Target: the GET median under this attack is at most twice the idle median."""

    def check(results: Results) -> str:
        ours = results[OURS]
        attacked, idle = ours.get(key), ours.get("w8_idle")
        if not isinstance(attacked, (int, float)) or not isinstance(idle, (int, float)):
            return "≤2x idle: ?"
        ratio = attacked / idle if idle > 0 else float("inf")
        return f"≤2x idle: {'ok' if ratio <= 2 else 'MISSED'} ({ratio:.2f}x)"

    return check


def _w4_target(results: Results) -> str:
    """Target: every reply already holds the completed record, within 200 + 10 ms."""
    ours = results[OURS]
    reply, held = ours.get("w4_reply"), str(ours.get("w4_in_reply", "0/1")).split("/")
    if not isinstance(reply, (int, float)):
        return "completed record in the reply ≤210 ms: ?"
    met = reply <= 210 and held[0] == held[1]
    return "completed record in the reply ≤210 ms: " + ("ok" if met else "MISSED")


_PROPERTY_TARGET = {"python-labthings": 3, "labthings-fastapi": 2, "flask-floor": 0.8}
_W3_TARGET = {"python-labthings": 3, "labthings-ephemeral": 0.9}  # history in SQLite or not
W1, W2, W3 = "W1 GET property", "W2 PUT property", "W3 POST add(1,2)"
W4, W5, W6 = "W4 POST sleep(0.2)", "W5 200 x sleep(1.0)", "W6 2000 x add"
ERRORS = "errors (socket + non-2xx)"

METRICS = (
    Metric("w1_rps", W1, "req/s", "higher", 0, _at_least("w1_rps", _PROPERTY_TARGET)),
    Metric("w1_p50", W1, "p50 ms", "lower", 2),
    Metric("w1_p99", W1, "p99 ms", "lower", 2),
    Metric("w1_errors", W1, ERRORS),
    Metric("w2_rps", W2, "req/s", "higher", 0, _at_least("w2_rps", _PROPERTY_TARGET)),
    Metric("w2_p50", W2, "p50 ms", "lower", 2),
    Metric("w2_p99", W2, "p99 ms", "lower", 2),
    Metric("w2_errors", W2, ERRORS),
    Metric("w3_rps", W3, "req/s", "higher", 0, _at_least("w3_rps", _W3_TARGET)),
    Metric("w3_p50", W3, "p50 ms", "lower", 2),
    Metric("w3_p99", W3, "p99 ms", "lower", 2),
    Metric("w3_errors", W3, ERRORS),
    Metric("w3_output", W3, "reply holds the output"),
    Metric("w4_reply", W4, "reply latency, median ms", "lower", 1, _w4_target),
    Metric("w4_seen", W4, "result seen, median ms", "lower"),
    Metric("w4_in_reply", W4, "replies that held the result"),
    Metric(
        "w5_settled",
        W5,
        "all settled, s (median burst)",
        "lower",
        2,
        _at_most("w5_settled", 1.3, " s"),
    ),
    Metric("w5_settled_worst", W5, "all settled, s (slowest burst)", "lower", 2),
    Metric("w5_seen", W5, "all results seen by clients, s", "lower", 2),
    Metric("w5_lost", W5, "results lost (of 200)", target=_at_most("w5_lost", 0, "")),
    Metric("w5_rss", W5, "peak RSS MiB", "lower"),
    Metric("w5_list_ms", W5, "list p50 ms afterwards", "lower", 2),
    Metric("w5_list_items", W5, "list items (KiB)"),
    Metric("w6_growth", W6, "RSS growth MiB", "lower", target=_at_most("w6_growth", 5, " MiB")),
    Metric("w6_growth_again", W6, "RSS growth over the next as many calls, MiB", "lower"),
    Metric("w6_list_ms", W6, "list p50 ms", "lower", 2, _at_most("w6_list_ms", 5, " ms")),
    Metric("w6_list_items", W6, "list items (KiB)"),
    Metric("w6_failures", W6, "failed calls"),
    Metric("w7", "W7 progress push", "update_task_progress -> watcher"),
    Metric("w8_idle", W8, "GET p50 ms, idle", "lower", 2),
    Metric(
        "w8_slowloris", W8, "GET p50 ms, 300 slowloris sockets", "lower", 2, _w8("w8_slowloris")
    ),
    Metric("w8_slowloris_max", W8, "GET max ms, 300 slowloris sockets", "lower", 1),
    Metric("w8_streams", W8, "GET p50 ms, 500 streams (the cap)", "lower", 2, _w8("w8_streams")),
    Metric("w8_streams_max", W8, "GET max ms, 500 streams (the cap)", "lower", 1),
)


HOW = (
    "W1-W3: `wrk -t1 -c8 --latency` (keep-alive, `Accept: application/json`), 1 s warm-up,"
    " then the median run by req/s; the systems take turns run by run, in reverse order"
    " every other run. A ratio of req/s is the median of the run-by-run ratios (the two"
    " runs of each pair seconds apart), so that load drifting over the minutes of a"
    " comparison is not taken for a difference. W3 also POSTs add(1,2) once and says"
    " whether the reply is the completed record with output 3.",
    "W4: one client POSTs sleep(0.2) and polls the record's `href` every 10 ms until it"
    " is final; medians of the reply latency and of the time until the result is seen.",
    "W5: 200 threads POST sleep(1.0) at once (a barrier), then each polls its record"
    " after 50 ms and every 500 ms (labthings-fastapi's own client schedule). Settled:"
    " latest `timeCompleted` read minus the first POST; seen: when the last client saw"
    " its result; lost: a POST refused, a record gone (404) or not completed. Peak RSS:"
    " /proc VmRSS of the server process sampled every 10 ms. Then the list endpoint is"
    " timed (labthings: `?limit=100`, the others have no pagination). Each burst runs"
    " on a fresh server; the table gives the median burst's times, the slowest burst's"
    " settling, and the most results lost and the highest peak RSS of any burst.",
    "W6: 50 warm-up calls, RSS, 2000 POST add(1,2) over 8 keep-alive connections, 1 s"
    " idle, RSS again (growth), then list p50 and size. Each of W4, each W5 burst, and"
    " W6 starts on a fresh server.",
    "Everything runs on loopback; the load generators are separate processes"
    " (`bench/loadgen.py`, standard library only). labthings keeps its request threads"
    " on one CPU picked by process id, and the floor does the same: each such server is"
    " started again until it has the same CPU as the others (the last one), so that no"
    " ratio between them depends on which CPU each drew.",
)


def _cell(value: Value, digits: int) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def markdown_table(results: Results) -> str:
    """One markdown table: a row per figure, a column per system, then the ratios."""
    systems = list(results)
    peers = [name for name in systems if name != OURS]
    header = ["workload", "figure", *systems, *(f"{OURS} vs {p}" for p in peers), "target"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for metric in METRICS:
        row = [metric.workload, metric.label]
        row += [_cell(results[name].get(metric.key), metric.digits) for name in systems]
        for peer in peers:
            ratio = _ratio(metric, results[OURS], results[peer])
            row.append("–" if ratio is None else f"{ratio:.2f}x")
        row.append(metric.target(results) if metric.target is not None else "")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def machine(repo: Path) -> dict[str, str]:
    """Date, CPU, RAM, load average and wrk version here, and the commit of `repo`."""
    model = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kib = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    wrk = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}", "wrk"], capture_output=True, text=True
    ).stdout
    commit = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(repo), "status", "--porcelain", "--", "labthings", "setup.cfg"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": model,
        "ram": f"{mem_kib / 1024 / 1024:.1f} GiB",
        "os": platform.platform(),
        "wrk": wrk or "?",
        "labthings source": f"{commit or '?'}" + (" with uncommitted changes" if dirty else ""),
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def write_results(
    path: Path,
    table: str,
    info: Mapping[str, str],
    versions: Mapping[str, Mapping[str, str]],
    notes: Mapping[str, str],
    settings: str,
    problems: list[str],
) -> None:
    """Write the table with the date, machine, versions and how each system was served."""
    lines = [
        "# labthings side by side with its peers",
        "",
        "Written by `python bench/compare.py` (see the README's Benchmarks section).",
        "",
        f"Run: {settings}",
        "",
        "## Machine",
        "",
        *(f"- {key}: {value}" for key, value in info.items()),
        "",
        "## Versions and how each system is served",
        "",
    ]
    for name, found in versions.items():
        listed = ", ".join(f"{package} {version}" for package, version in found.items())
        lines.append(f"- **{name}**: {listed}. {notes.get(name, '')}")
    lines += [
        "",
        "## Results",
        "",
        "Ratios are labthings / peer for rates and peer / labthings for times and sizes, so",
        "above 1 means labthings does better. `–`: not measured (the floor only serves the",
        "property) or no ratio.",
        "",
        table,
        "",
        "## How each figure is measured",
        "",
        *(f"- {line}" for line in HOW),
        "",
    ]
    if problems:
        lines += ["## Problems", "", *(f"- {problem}" for problem in problems), ""]
    path.write_text("\n".join(lines))
