"""The systems under comparison: how each is installed, started, addressed and stopped.

Each system gets its own virtual environment (`python -m venv` + pip from the package
index) and runs its app from `bench/peers/` with that venv's python on a free
127.0.0.1 port. The URLs below are how each one is driven:

- labthings: `GET`/`PUT /bench/properties/value`; `POST /bench/actions/add` and
  `/bench/actions/sleep` wait up to 1 s and answer 201 with the record; a record is at
  `GET /actions/<id>`; the list is `GET /actions?limit=100` (paginated, newest first).
- python-labthings: the same paths (its `ActionView` also waits up to 1 s); the list
  `GET /actions` holds the last 100 records only.
- labthings-fastapi: `GET`/`PUT /bench/value`; `POST /bench/add` and `/bench/sleep`
  answer 201 at once; a record is at `GET /action_invocations/<id>`; the list
  `GET /action_invocations` holds every record of the last 300 s, unpaginated.
- flask-floor: `GET`/`PUT /bench/properties/value` only.

Every record holds `status`, `output`, `timeCompleted` and an absolute `href` that the
load generator polls.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "FLOOR_CPU_VARIABLE",
    "REPO",
    "SHARED_CPU",
    "SYSTEMS",
    "Server",
    "ServerDidNotStart",
    "System",
    "install",
    "start",
    "versions",
]

REPO = Path(__file__).resolve().parent.parent
PEERS = REPO / "bench" / "peers"
# What labthings needs to build and run from a copy of the work tree (uncommitted edits
# included); copying keeps pip's in-tree build from writing into the repository.
_REPO_FILES = ("labthings", "devices", "setup.cfg", "pyproject.toml", "README.md")
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc")
_CPUS = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
SHARED_CPU = _CPUS[-1] if len(_CPUS) > 1 else None
"""The CPU every system that pins its request threads gets (None: nothing is pinned)."""
FLOOR_CPU_VARIABLE = "FLOOR_CPU"
"""How the floor (bench/peers/flask_floor_app.py) is told `SHARED_CPU`."""
_CPU_DRAWS = 12


@dataclass(frozen=True)
class System:
    """One server in the comparison."""

    name: str
    app: str
    requirements: tuple[str, ...]
    packages: tuple[str, ...]
    """Distributions whose versions go into the report."""
    property_path: str
    add_path: str | None = None
    sleep_path: str | None = None
    list_path: str | None = None
    notes: str = ""
    pins_threads: bool = False
    """Its request threads share one CPU, picked by process id (see `start`)."""

    @property
    def has_actions(self) -> bool:
        """False for the floor, which only serves the property."""
        return self.add_path is not None

    def command(self, python: Path, port: int, workdir: Path) -> list[str]:
        """The command line that serves this system on 127.0.0.1:`port`."""
        if self.name.startswith("labthings") and self.name != "labthings-fastapi":
            target = f"{PEERS / self.app}:labthing"
            serve = [str(python), "-m", "labthings", "serve", target, "--port", str(port)]
            if self.name == "labthings-ephemeral":
                return [*serve, "--ephemeral"]
            return [*serve, "--data-dir", str(workdir / f"data-{port}-{time.monotonic_ns()}")]
        args = [str(workdir)] if self.name == "labthings-fastapi" else []
        return [str(python), str(PEERS / self.app), str(port), *args]


SYSTEMS = (
    System(
        name="labthings",
        app="labthings_app.py",
        requirements=(),  # the work tree itself, see install()
        packages=("labthings", "flask", "werkzeug", "marshmallow", "granian"),
        property_path="/bench/properties/value",
        add_path="/bench/actions/add",
        sleep_path="/bench/actions/sleep",
        list_path="/actions?limit=100",
        notes="`labthings serve` (granian, up to 1024 threads, request and task threads on one "
        "CPU), history in SQLite in a fresh "
        "data folder; a POST waits up to 1 s for the result; keeps 1000 finished records",
        pins_threads=True,
    ),
    System(
        name="labthings-ephemeral",
        app="labthings_app.py",
        requirements=(),  # the work tree itself, as for labthings
        packages=("labthings",),
        property_path="/bench/properties/value",
        add_path="/bench/actions/add",
        sleep_path="/bench/actions/sleep",
        list_path="/actions?limit=100",
        notes="the same with `--ephemeral`: the history in memory (W1-W3 only)",
        pins_threads=True,
    ),
    System(
        name="python-labthings",
        app="python_labthings_app.py",
        requirements=(
            "labthings==1.3.2",
            "Flask==1.1.4",
            "Werkzeug==1.0.1",
            "Jinja2==2.11.3",
            "MarkupSafe==2.0.1",
            "itsdangerous==1.1.0",
        ),
        packages=("labthings", "flask", "werkzeug", "marshmallow", "webargs"),
        property_path="/bench/properties/value",
        add_path="/bench/actions/add",
        sleep_path="/bench/actions/sleep",
        list_path="/actions",
        notes="`labthings.Server(..., zeroconf=False)` (werkzeug run_simple, threaded, HTTP/1.0); "
        "a POST waits up to 1 s; keeps the last 100 records",
    ),
    System(
        name="labthings-fastapi",
        app="fastapi_app.py",
        requirements=("labthings-fastapi==0.3.0", "uvicorn"),
        packages=("labthings-fastapi", "fastapi", "starlette", "pydantic", "uvicorn"),
        property_path="/bench/value",
        add_path="/bench/add",
        sleep_path="/bench/sleep",
        list_path="/action_invocations",
        notes="`uvicorn.run(server.app)` as `ThingServer.serve` does, access log off; a POST "
        "answers at once; keeps every record for 300 s",
    ),
    System(
        name="flask-floor",
        app="flask_floor_app.py",
        requirements=("Flask>=3", "granian>=2.8.1,<2.9"),
        packages=("flask", "werkzeug", "granian"),
        property_path="/bench/properties/value",
        notes="one Flask 3 route on granian with labthings' settings, its threads on one "
        "CPU as labthings' are",
        pins_threads=True,
    ),
)


def _pip(python: Path, cache: Path, *args: str) -> None:
    command = [str(python), "-m", "pip", "install", "--quiet", "--cache-dir", str(cache)]
    finished = subprocess.run([*command, *args], capture_output=True, text=True, timeout=900)
    if finished.returncode != 0:
        raise RuntimeError(f"pip install {' '.join(args)} failed:\n{finished.stderr[-3000:]}")


def install(system: System, root: Path, cache: Path) -> Path:
    """Create (or reuse) `root/<name>` as a venv holding `system`; returns its python.

    A venv whose marker file records the same requirements is reused as it is, except
    labthings, which is always reinstalled from the work tree.
    """
    venv = root / system.name
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    marker = venv / "bench-requirements.json"
    wanted = json.dumps(system.requirements)
    if not (marker.is_file() and marker.read_text() == wanted):
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
        if system.requirements:
            _pip(python, cache, *system.requirements)
        marker.write_text(wanted)
    if system.name == "labthings":
        source = root / "labthings-source"
        shutil.rmtree(source, ignore_errors=True)
        source.mkdir(parents=True)
        for name in _REPO_FILES:
            if (REPO / name).is_dir():
                shutil.copytree(REPO / name, source / name, ignore=_IGNORED)
            else:
                shutil.copy2(REPO / name, source / name)
        _pip(python, cache, "--force-reinstall", "--no-deps", str(source))
        _pip(python, cache, str(source))  # its dependencies, if not there yet
    return python


def versions(python: Path, packages: tuple[str, ...]) -> dict[str, str]:
    """Installed versions of `packages` (and Python) in the venv of `python`."""
    script = (
        "import importlib.metadata as m, json, platform, sys\n"
        "names = json.loads(sys.argv[1])\n"
        "found = {'python': platform.python_version()}\n"
        "for n in names:\n"
        "    try: found[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: found[n] = '?'\n"
        "print(json.dumps(found))\n"
    )
    out = subprocess.run(
        [str(python), "-c", script, json.dumps(list(packages))],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    result: dict[str, str] = json.loads(out)
    return result


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Server:
    """One system served in its own process on a free loopback port; always stop() it."""

    def __init__(self, system: System, python: Path, workdir: Path) -> None:
        self.system = system
        workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / f"{system.name}-{time.monotonic_ns()}.log"
        self._log = self.log_path.open("w")
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environment = dict(os.environ)
        if SHARED_CPU is not None:
            environment[FLOOR_CPU_VARIABLE] = str(SHARED_CPU)  # only the floor reads it
        self.process = subprocess.Popen(
            system.command(python, self.port, workdir),
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=environment,
        )

    def on_shared_cpu(self) -> bool:
        """Whether this ready server's threads share `SHARED_CPU` (always, if none is
        shared, or if it pins nothing): the floor is told its CPU, and `labthings serve`
        logs the one it picked ("... share CPU N") just before its "serving" line."""
        if SHARED_CPU is None or self.system.name == "flask-floor":
            return True
        deadline = time.monotonic() + 5
        log = self.log_path.read_text(errors="replace")
        while "serving" not in log and time.monotonic() < deadline:
            time.sleep(0.02)
            log = self.log_path.read_text(errors="replace")
        picked = re.search(r"share CPU (\d+)", log)
        return picked is None or int(picked.group(1)) == SHARED_CPU

    def wait_ready(self, timeout: float = 60) -> None:
        """Wait until the property answers 200; raise (with the log) if it never does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            probe = urllib.request.Request(
                self.url + self.system.property_path, headers={"Accept": "application/json"}
            )
            try:
                with urllib.request.urlopen(probe, timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        exited = self.process.poll() is not None
        self.stop()
        log = self.log_path.read_text()[-3000:]
        raise ServerDidNotStart(f"{self.system.name} did not start:\n{log}", exited)

    def rss_mib(self) -> float:
        """The server process's resident set size now, in MiB (Linux /proc)."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))
        return int(kib) / 1024

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM, wait a bounded time, then kill; safe to call twice."""
        stop_process(self.process, timeout)
        self._log.close()


def stop_process(process: subprocess.Popen[Any], timeout: float) -> bool:
    """SIGTERM, wait up to `timeout` s, then kill; False if it had to be killed."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
            return False
    return True


class ServerDidNotStart(RuntimeError):
    """A server did not answer in time; `exited` if its process ended (port taken?)."""

    def __init__(self, message: str, exited: bool) -> None:
        super().__init__(message)
        self.exited = exited


def start(system: System, python: Path, workdir: Path, attempts: int = 3) -> Server:
    """A ready server; retries on a fresh port if the process exited (port taken).

    A server that keeps its threads on one CPU is started again until it has drawn
    `SHARED_CPU` (at most `_CPU_DRAWS` starts; see `on_shared_cpu`), so that two
    such systems never differ by which CPU each drew: on a shared machine one CPU can be
    busier than the other for minutes."""
    draws = 0
    for attempt in range(1, attempts + 1):
        while True:
            server = Server(system, python, workdir)
            try:
                server.wait_ready()
            except ServerDidNotStart as error:
                if attempt == attempts or not error.exited:
                    raise
                break
            draws += 1
            if not system.pins_threads or server.on_shared_cpu() or draws >= _CPU_DRAWS:
                return server
            server.stop()
            # Each start takes the same number of process and thread ids, so the next
            # server would draw the same CPU again: one more id moves it on.
            subprocess.run([sys.executable, "-c", ""], check=True)
    raise AssertionError("unreachable")
