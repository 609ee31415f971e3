"""What a `kill -9` under load costs: every record a client saw finish, and the restart.

Run from the repository root with labthings installed::

    python bench/kill9.py [--seconds 5] [--clients 8] [--running 20]

It serves the benchmark Thing (`bench/peers/labthings_app.py`) with a fresh data
folder, starts `--running` long `sleep` invocations, and has `--clients` threads POST
`add` as fast as they can, each keeping every completed record it is answered with.
After `--seconds` the server gets SIGKILL in the middle of that load. A new server on
the same folder then reports how long it took to listen, and the script checks that
every record a client saw completed is stored unchanged (or was evicted by the history's
bound, 1000 finished records, oldest first), and that the long invocations came back as
`error` (interrupted). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))

from served import ServedLab  # noqa: E402

TARGET = f"{ROOT / 'bench' / 'peers' / 'labthings_app.py'}:labthing"
_LINKS = ("href", "links")


def _unlinked(record: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in record.items() if key not in _LINKS}


def _client(url: str, stop: threading.Event, seen: list[dict[str, Any]]) -> None:
    """POST add(n, 1) until `stop`; keep each completed record answered."""
    with requests.Session() as session:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                reply = session.post(f"{url}bench/actions/add", json={"a": n, "b": 1}, timeout=5)
            except requests.RequestException:
                return  # the server was killed under this request
            if reply.status_code in (200, 201) and reply.json().get("status") == "completed":
                seen.append(reply.json())


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="load before the kill")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--running", type=int, default=20, help="long invocations running")
    arguments = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="labthings-kill9-"))
    try:
        lab = ServedLab(TARGET, extra=["--data-dir", str(folder)])
        try:
            running = [
                requests.post(
                    f"{lab.url}bench/actions/sleep",
                    json={"seconds": 3600},
                    headers={"Prefer": "respond-async"},
                    timeout=10,
                ).json()["id"]
                for _ in range(arguments.running)
            ]
            stop = threading.Event()
            seen: list[list[dict[str, Any]]] = [[] for _ in range(arguments.clients)]
            clients = [
                threading.Thread(target=_client, args=(lab.url, stop, mine)) for mine in seen
            ]
            for client in clients:
                client.start()
            time.sleep(arguments.seconds)
        finally:
            lab.stop(signal.SIGKILL)  # in the middle of the load: no shutdown at all
        stop.set()
        for client in clients:
            client.join(10)
        completed = [record for mine in seen for record in mine]

        started = time.perf_counter()
        again = ServedLab(TARGET, startup_timeout=120, extra=["--data-dir", str(folder)])
        restart = time.perf_counter() - started
        try:
            kept, changed, evicted = 0, 0, 0
            newest_evicted, oldest_kept = "", "~"
            with requests.Session() as session:
                for seen_record in completed:
                    reply = session.get(f"{again.url}actions/{seen_record['id']}", timeout=5)
                    finished = seen_record["timeCompleted"]
                    if reply.status_code == 404:
                        evicted += 1
                        newest_evicted = max(newest_evicted, finished)
                    elif _unlinked(reply.json()) == _unlinked(seen_record):
                        kept += 1
                        oldest_kept = min(oldest_kept, finished)
                    else:
                        changed += 1
                interrupted = sum(
                    session.get(f"{again.url}actions/{task_id}", timeout=5).json()["error"]["type"]
                    == "urn:labthings:problem:interrupted"
                    for task_id in running
                )
        finally:
            again.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    load = f"{arguments.clients} clients POSTing add for {arguments.seconds:g} s"
    rows = [
        ("load before the kill", load),
        ("records clients saw completed", f"{len(completed):,}"),
        ("of them stored unchanged after the restart", f"{kept:,}"),
        ("of them stored but changed", f"{changed}"),
        ("of them evicted by the bound", f"{evicted:,}"),
        (
            "every evicted one finished before every kept one",
            "yes" if not evicted or newest_evicted <= oldest_kept else "NO",
        ),
        ("long invocations running at the kill", f"{arguments.running}"),
        ("of them back as error (interrupted)", f"{interrupted}"),
        ("restart: process start to listening", f"{restart:.2f} s"),
    ]
    print("| measurement | result |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
