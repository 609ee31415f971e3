"""How long a SIGTERM takes with thousands of invocations queued, and whether a watcher
hears how every one ended.

Run from the repository root with labthings installed::

    python bench/shutdown.py [--queued 3000] [--shutdown-wait 5]

It serves the test lab (`tests/support/lab_for_tests.py`) with a fresh data folder,
starts one long action on the `slow` Thing and queues `--queued` more behind it, opens
`GET /actions/events?action=sleep`, sends SIGTERM, and prints the seconds until the
process exited, its exit code and how many final records the watcher received.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))

from served import SUPPORT, ServedLab  # noqa: E402
from sse import messages  # noqa: E402

ASYNC = {"Prefer": "respond-async"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queued", type=int, default=3000)
    parser.add_argument("--shutdown-wait", type=float, default=5.0)
    arguments = parser.parse_args()
    config = Path(tempfile.mkdtemp(prefix="labthings-shutdown-")) / "settings.json"
    limit = arguments.queued + 10
    config.write_text(
        json.dumps(
            {
                "max_pending_per_thing": limit,
                "max_pending": limit,
                "shutdown_wait": arguments.shutdown_wait,
                "event_queue": limit,
            }
        )
    )
    lab = ServedLab(
        f"{SUPPORT / 'lab_for_tests.py'}:make_labthing", extra=["--config", str(config)]
    )
    ends: list[str] = []
    try:
        url = f"{lab.url}slow/actions/sleep"
        requests.post(url, json={"seconds": 60}, headers=ASYNC, timeout=10).raise_for_status()
        with ThreadPoolExecutor(8) as pool:
            statuses = list(
                pool.map(
                    lambda _: (
                        requests.post(
                            url, json={"seconds": 1}, headers=ASYNC, timeout=30
                        ).status_code
                    ),
                    range(arguments.queued),
                )
            )
        assert set(statuses) == {201}, set(statuses)
        stream = requests.get(f"{lab.url}actions/events?action=sleep", stream=True, timeout=(5, 60))

        def watch() -> None:
            with stream:
                for message in messages(stream):
                    if message.event == "record":
                        ends.append(message.data["status"])

        watcher = threading.Thread(target=watch)
        watcher.start()
        time.sleep(0.5)
        started = time.monotonic()
        lab.process.send_signal(signal.SIGTERM)
        code = lab.process.wait(120)
        took = time.monotonic() - started
        watcher.join(60)
    finally:
        lab.stop()
    print(
        f"SIGTERM with 1 running and {arguments.queued} queued, shutdown_wait "
        f"{arguments.shutdown_wait:g} s: exit code {code} after {took:.2f} s; "
        f"the watcher received {len(ends)} final records ({', '.join(sorted(set(ends)))})"
    )


if __name__ == "__main__":
    main()
