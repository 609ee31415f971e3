"""A small HTTP client of a served compute lab (`lab_celery.py`), for the Celery tests
and the benchmark: start actions of its `analysis` Thing and follow their records."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests

__all__ = ["FINAL", "LabClient", "messages"]

FINAL = ("completed", "cancelled", "error")

Record = dict[str, Any]


class LabClient:
    """Requests to the lab at `url`; each call names the status it must get."""

    def __init__(self, url: str, thing: str = "analysis") -> None:
        self.url = url
        self.thing = thing
        self.session = requests.Session()

    def call(self, method: str, path: str, status: int = 200, **options: Any) -> Any:
        """The JSON body of `method path`, which must answer `status`."""
        response = self.session.request(method, f"{self.url}{path}", timeout=60, **options)
        assert response.status_code == status, f"{response.status_code}: {response.text}"
        return response.json()

    def start(self, action: str, body: dict[str, Any], wait: float | None = None) -> Record:
        """POST `action` with `body`; its record at once, or after up to `wait` s."""
        prefer = "respond-async" if wait is None else f"wait={wait:g}"
        record: Record = self.call(
            "POST", f"{self.thing}/actions/{action}", 201, json=body, headers={"Prefer": prefer}
        )
        return record

    def record(self, invocation: str) -> Record:
        """The record of an invocation now."""
        found: Record = self.call("GET", f"actions/{invocation}")
        return found

    def until(self, invocation: str, ok: Callable[[Record], bool], timeout: float = 20) -> Record:
        """The invocation's record once `ok` says yes to it; fails after `timeout` s."""
        deadline = time.monotonic() + timeout
        while not ok(record := self.record(invocation)):
            assert time.monotonic() < deadline, f"not reached in {timeout} s: {record}"
            time.sleep(0.05)
        return record

    def final(self, invocation: str, timeout: float = 20) -> Record:
        """The invocation's record once it has ended."""
        return self.until(invocation, lambda record: record["status"] in FINAL, timeout)

    def cancel(self, invocation: str, status: int = 200, timeout: float = 10) -> Record:
        """DELETE the invocation, waiting up to `timeout` s; its record."""
        found: Record = self.call("DELETE", f"actions/{invocation}?timeout={timeout:g}", status)
        return found


def messages(record: Record) -> list[str]:
    """The messages of a record's log, in order."""
    return [entry["message"] for entry in record["log"]]
