"""A small load generator for what wrk cannot express: start actions and follow them.

Standard library only, so it runs with any Python 3.10+. `bench/compare.py` runs it in
its own process (`run_task`), never inside a server, and reads one JSON object back::

    python bench/loadgen.py '{"task": "invoke", "url": "http://127.0.0.1:8000/...", ...}'

Every client thread keeps its own HTTP/1.1 connection (re-opened when a server closes
it, as python-labthings' HTTP/1.0 server does after every reply). Every loop is bounded
by a count and a deadline.
"""

from __future__ import annotations

import http.client
import json
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

__all__ = ["Client", "Reply", "run_task"]

FINAL = frozenset({"completed", "cancelled", "error"})
"""Record statuses after which an invocation never changes (the same in all three)."""


@dataclass
class Reply:
    """One HTTP exchange: status, parsed JSON body (or None), body size, seconds taken."""

    status: int
    body: Any
    size: int
    seconds: float


class Client:
    """A keep-alive HTTP/1.1 client for one loopback server (absolute or relative URLs)."""

    def __init__(self, base: str, timeout: float = 30.0) -> None:
        self.base = base
        parts = urlsplit(base)
        self._connection = http.client.HTTPConnection(
            parts.hostname or "127.0.0.1", parts.port, timeout=timeout
        )

    def request(self, method: str, url: str, body: Any = None) -> Reply:
        """Send one request; a GET is retried once if a kept-alive connection was closed."""
        parts = urlsplit(urljoin(self.base, url))
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        data = None if body is None else json.dumps(body).encode()
        # python-labthings answers 500 to a request without an Accept header.
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            start = time.perf_counter()
            try:
                self._connection.request(method, path, body=data, headers=headers)
                response = self._connection.getresponse()
                raw = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self._connection.close()
                if method != "GET" or attempt == 2:
                    raise
                continue
            seconds = time.perf_counter() - start
            if response.will_close:
                self._connection.close()
            try:
                parsed = json.loads(raw) if raw else None
            except ValueError:
                parsed = None
            return Reply(response.status, parsed, len(raw), seconds)
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Close the connection."""
        self._connection.close()


def _timestamp(text: Any) -> float | None:
    """Seconds since the epoch of an ISO 8601 time; naive times are local (same host)."""
    if not isinstance(text, str):
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _follow(
    client: Client, post_url: str, body: Any, poll: float, first_poll: float, deadline: float
) -> dict[str, Any]:
    """POST an action, then poll its record until it is final, lost or out of time.

    Times are `time.time()` seconds. `lost` means the server no longer has the record,
    refused the POST, or the action did not complete.
    """
    sent = time.time()
    reply = client.request("POST", post_url, body)
    replied = time.time()
    result: dict[str, Any] = {"sent": sent, "replied": replied, "status": None}
    record = reply.body if isinstance(reply.body, dict) else {}
    if reply.status not in (200, 201) or "href" not in record:
        return {**result, "lost": True, "http": reply.status}
    result["in_reply"] = record.get("status") in FINAL
    wait = first_poll
    while record.get("status") not in FINAL and time.time() < deadline:
        time.sleep(wait)
        wait = poll
        polled = client.request("GET", record["href"])
        if polled.status != 200 or not isinstance(polled.body, dict):
            return {**result, "lost": True, "http": polled.status}
        record = polled.body
    result.update(
        seen=time.time(),
        status=record.get("status"),
        output=record.get("output"),
        completed_at=_timestamp(record.get("timeCompleted")),
        lost=record.get("status") != "completed",
    )
    return result


def invoke(task: dict[str, Any]) -> dict[str, Any]:
    """W4: `repeat` sequential POSTs of one action, each followed to its result."""
    client = Client(task["url"])
    runs = []
    try:
        for _ in range(task["repeat"]):
            deadline = time.time() + task["timeout"]
            run = _follow(client, task["url"], task["body"], task["poll"], task["poll"], deadline)
            runs.append(run)
    finally:
        client.close()
    done = [run for run in runs if not run["lost"]]
    seen = [1e3 * (run["seen"] - run["sent"]) for run in done]
    return {
        "reply_ms": statistics.median(1e3 * (r["replied"] - r["sent"]) for r in runs),
        "seen_ms": statistics.median(seen) if seen else None,
        "in_reply": sum(bool(r.get("in_reply")) for r in runs),
        "runs": len(runs),
        "lost": len(runs) - len(done),
    }


def burst(task: dict[str, Any]) -> dict[str, Any]:
    """W5: `count` clients POST the same action at once, then each polls its own record."""
    count = task["count"]
    gate = threading.Barrier(count, timeout=30)
    deadline = time.time() + task["timeout"]

    def one(_: int) -> dict[str, Any]:
        client = Client(task["url"])
        try:
            gate.wait()
            return _follow(
                client, task["url"], task["body"], task["poll"], task["first_poll"], deadline
            )
        except (OSError, http.client.HTTPException) as error:
            return {"sent": time.time(), "lost": True, "error": repr(error)}
        finally:
            client.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        runs = list(pool.map(one, range(count)))
    first = min(run["sent"] for run in runs)
    done = [run for run in runs if not run["lost"]]
    completed = [run["completed_at"] for run in done if run.get("completed_at") is not None]
    return {
        "count": count,
        "lost": count - len(done),
        "seen_s": max(run["seen"] for run in done) - first if done else None,
        "settled_s": max(completed) - first if completed else None,
        "errors": sorted({run["error"] for run in runs if "error" in run})[:3],
    }


def calls(task: dict[str, Any]) -> dict[str, Any]:
    """W6: `count` POSTs spread over `connections` keep-alive clients; counts failures."""
    per_client = [task["count"] // task["connections"]] * task["connections"]
    per_client[0] += task["count"] - sum(per_client)
    deadline = time.time() + task["timeout"]

    def many(n: int) -> int:
        client = Client(task["url"])
        failures = 0
        try:
            for _ in range(n):
                if time.time() > deadline:
                    return failures + 1
                try:
                    reply = client.request("POST", task["url"], task["body"])
                    failures += reply.status not in (200, 201)
                except (OSError, http.client.HTTPException):
                    failures += 1
        finally:
            client.close()
        return failures

    with ThreadPoolExecutor(max_workers=len(per_client)) as pool:
        failures = sum(pool.map(many, per_client))
    return {"count": task["count"], "failures": failures}


def listing(task: dict[str, Any]) -> dict[str, Any]:
    """List latency: `repeat` sequential GETs of a list URL; p50 and the list's size."""
    client = Client(task["url"])
    replies = []
    try:
        deadline = time.time() + task["timeout"]
        while len(replies) < task["repeat"] and time.time() < deadline:
            replies.append(client.request("GET", task["url"]))
    finally:
        client.close()
    last = replies[-1]
    return {
        "p50_ms": statistics.median(1e3 * reply.seconds for reply in replies),
        "items": len(last.body) if isinstance(last.body, list) else None,
        "kib": last.size / 1024,
        "status": last.status,
    }


TASKS = {"invoke": invoke, "burst": burst, "calls": calls, "list": listing}


def run_task(task: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run one task in a separate Python process and return what it reports."""
    finished = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), json.dumps(task)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if finished.returncode != 0:
        raise RuntimeError(f"loadgen {task['task']} failed:\n{finished.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(finished.stdout)
    return result


if __name__ == "__main__":
    request = json.loads(sys.argv[1])
    print(json.dumps(TASKS[request["task"]](request)))
