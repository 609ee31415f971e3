"""labthings side by side with python-labthings, labthings-fastapi and a bare Flask floor.

Linux, loopback only; needs `wrk` on PATH (`apt-get install wrk`) and the package index.
Run from anywhere in a clone of this repository (nothing else to install first)::

    python bench/compare.py            # the full run, under 10 minutes
    python bench/compare.py --quick    # a smoke run, about 2 minutes

It builds one virtual environment per system in a temporary folder (pip caches wheels
in ~/.cache/labthings-bench), serves the same little Thing in each (`bench/peers/`),
runs workloads W1-W7 of issue 4 against them (`bench/workloads.py`), prints one
markdown table and writes it to bench/RESULTS.md with the date, machine and versions.
Every server is stopped at the end, also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "support"))

from report import machine, markdown_table, write_results  # noqa: E402
from systems import (  # noqa: E402
    REPO,
    SYSTEMS,
    Server,
    ServerDidNotStart,
    System,
    install,
    start,
    versions,
)
from workloads import PHASES, Figures, Phase, Settings, throughput  # noqa: E402

DEFAULT_CACHE = Path.home() / ".cache" / "labthings-bench"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a ~2 minute smoke run")
    parser.add_argument("--seconds", type=int, help="seconds per wrk run (default 4; quick 2)")
    parser.add_argument("--runs", type=int, help="wrk runs per workload (default 5; quick 1)")
    parser.add_argument(
        "--venvs",
        type=Path,
        help="keep the virtual environments here and reuse them next time "
        "(default: a temporary folder, removed at the end)",
    )
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="pip's cache folder")
    parser.add_argument(
        "--output", type=Path, default=REPO / "bench" / "RESULTS.md", help="the report file"
    )
    return parser


def _settings(arguments: argparse.Namespace) -> Settings:
    settings = Settings.quick() if arguments.quick else Settings()
    if arguments.seconds is not None:
        settings = dataclasses.replace(settings, wrk_seconds=arguments.seconds)
    if arguments.runs is not None:
        settings = dataclasses.replace(settings, wrk_runs=arguments.runs)
    return settings


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _install_all(root: Path, cache: Path) -> dict[str, Path]:
    """Every system's venv, set up in parallel; returns each one's python."""
    _log(f"setting up {len(SYSTEMS)} virtual environments in {root}")
    own = [s for s in SYSTEMS if s.name != "labthings-ephemeral"]  # shares labthings' venv
    with ThreadPoolExecutor(max_workers=len(own)) as pool:
        futures = {s.name: pool.submit(install, s, root, cache) for s in own}
        pythons = {name: future.result() for name, future in futures.items()}
    pythons["labthings-ephemeral"] = pythons["labthings"]
    return pythons


def _run_phases(
    pythons: dict[str, Path], workdir: Path, settings: Settings, results: dict[str, Figures]
) -> list[str]:
    """W4 onwards: each phase on a fresh server per system (per run, for a phase run
    several times); returns the problems met."""
    problems: list[str] = []
    for phase in PHASES:
        for system in SYSTEMS:
            if phase.systems is None and not system.has_actions:
                continue
            if phase.systems is not None and system.name not in phase.systems:
                continue
            runs = [
                _run_phase_once(phase, system, pythons[system.name], workdir, settings, problems)
                for _ in range(phase.runs(settings))
            ]
            whole = [figures for figures, complete in runs if complete]
            # A run with a failed step lacks figures, so only whole runs are merged; if
            # there are none, the first run's figures still go in the table.
            results[system.name].update(phase.merge(whole) if whole else runs[0][0])
    return problems


def _run_phase_once(
    phase: Phase,
    system: System,
    python: Path,
    workdir: Path,
    settings: Settings,
    problems: list[str],
) -> tuple[Figures, bool]:
    """The phase's steps on a fresh server of `system`: their figures, and whether every
    step gave its own (a failure is added to `problems`)."""
    _log(f"{phase.name} on {system.name}")
    figures: Figures = {}
    failed = False
    server = None
    try:
        if phase.needs_server:
            server = start(system, python, workdir)
        for step in phase.steps:
            try:
                figures.update(step(server, settings))
            except Exception as error:  # one failed step must not lose the rest
                problems.append(f"{step.__name__} on {system.name}: {error!r}")
                traceback.print_exc()
                failed = True
    except ServerDidNotStart as error:
        problems.append(f"{phase.name} on {system.name}: {error}")
        failed = True
    finally:
        if server is not None:
            server.stop()
    return figures, not failed


def _compare(arguments: argparse.Namespace, scratch: Path) -> None:
    """Install, measure, print and write the report; `scratch` is removed afterwards."""
    settings = _settings(arguments)
    info = machine(REPO)
    pythons = _install_all(arguments.venvs or scratch / "venvs", arguments.cache)
    found = {s.name: versions(pythons[s.name], s.packages) for s in SYSTEMS}
    results: dict[str, Figures] = {system.name: {} for system in SYSTEMS}
    workdir = scratch / "run"
    servers: dict[str, Server] = {}
    problems = []
    try:
        _log("W1-W3 (wrk), all systems served at once and measured in turn")
        for system in SYSTEMS:
            try:
                servers[system.name] = start(system, pythons[system.name], workdir)
            except ServerDidNotStart as error:
                problems.append(f"W1-W3 on {system.name}: {error}")
        for name, figures in throughput(servers, settings).items():
            results[name].update(figures)
    finally:
        for server in servers.values():
            server.stop()
    problems += _run_phases(pythons, workdir, settings, results)
    info["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    table = markdown_table(results)
    print(table)
    run = (
        f"{'--quick' if arguments.quick else 'full'}; wrk -t1 -c8 {settings.wrk_seconds} s "
        f"x {settings.wrk_runs} run(s) per workload (median run); W4 x{settings.w4_repeat}; "
        f"W5 {settings.w5_count} clients x {settings.w5_bursts} burst(s) (median burst); "
        f"W6 {settings.w6_count} calls; "
        f"list latency over {settings.list_repeat} GETs"
    )
    notes = {s.name: s.notes for s in SYSTEMS}
    write_results(arguments.output, table, info, found, notes, run, problems)
    _log(f"wrote {arguments.output}")
    if problems:
        raise SystemExit("some workloads failed:\n" + "\n".join(problems))


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # so that every `finally` stops its servers


def main() -> None:
    """Parse the command line, run the comparison, clean up whatever happens."""
    arguments = _parser().parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("compare.py needs wrk on PATH: apt-get install wrk")
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="labthings-bench-") as scratch:
            _compare(arguments, Path(scratch))
    except KeyboardInterrupt:
        raise SystemExit("compare.py: interrupted; every server it started is stopped") from None
    _log(f"done in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
