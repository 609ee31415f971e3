"""Reused invocations on a real `labthings serve`: Idempotency-Key (same body, other body,
concurrent repeats, expiry, a `kill -9` and restart), `dedupe` and `cache_for` (within
and after the lifetime, other input, failed and cancelled results never reused)."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from lab_dedupe import SHORT_CACHE
from served import SUPPORT, ServedLab

TARGET = f"{SUPPORT / 'lab_dedupe.py'}:make_lab"
ASYNC = {"Prefer": "respond-async"}
WAIT = {"Prefer": "wait=10"}


@pytest.fixture(scope="module")
def served() -> Iterator[ServedLab]:
    lab = ServedLab(TARGET)
    yield lab
    lab.stop()


def post(
    lab: ServedLab, action: str, body: dict[str, Any], key: str | None = None, **headers: str
) -> requests.Response:
    if key is not None:
        headers["Idempotency-Key"] = f'"{key}"'
    return requests.post(
        f"{lab.url}counter/actions/{action}", json=body, headers=headers, timeout=15
    )


def runs(lab: ServedLab) -> dict[str, int]:
    counts: dict[str, int] = requests.get(f"{lab.url}counter/properties/runs", timeout=5).json()
    return counts


def cancel(lab: ServedLab, response: requests.Response) -> None:
    ended = requests.delete(response.headers["Location"], params={"timeout": 10}, timeout=15)
    assert ended.status_code == 200, ended.text


def assert_reused(response: requests.Response, first: requests.Response, reason: str) -> None:
    assert response.status_code == 200, response.text
    # The same Location (a restarted server has another port).
    assert urlsplit(response.headers["Location"]).path == urlsplit(first.headers["Location"]).path
    assert response.headers["LabThings-Reused"] == reason
    record = response.json()
    assert record["id"] == first.json()["id"]
    assert {"rel": "reused", "href": record["href"], "reason": reason} in record["links"]


def assert_new(response: requests.Response, *others: requests.Response) -> None:
    assert response.status_code == 201, response.text
    assert "LabThings-Reused" not in response.headers
    assert response.json()["id"] not in {other.json()["id"] for other in others}


@pytest.mark.timeout(120)
def test_a_key_survives_kill_9_and_a_restart(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    lab = ServedLab(TARGET, extra=["--data-dir", str(folder)])
    try:
        first = post(lab, "measure", {"x": 4}, "restart-key", **WAIT)
        assert_new(first)
        assert first.json()["output"] == 4
        assert_reused(post(lab, "measure", {"x": 4}, "restart-key"), first, "idempotency-key")
        assert post(lab, "measure", {"x": 5}, "restart-key").status_code == 422
        dark = post(lab, "dark", {"exposure": 0.01}, **WAIT)
        assert dark.json()["status"] == "completed"
        assert runs(lab) == {"measure": 1, "dark": 1}
    finally:
        lab.stop(signal.SIGKILL)

    again = ServedLab(TARGET, extra=["--data-dir", str(folder)])
    try:
        repeated = post(again, "measure", {"x": 4, "y": 0}, "restart-key")
        assert_reused(repeated, first, "idempotency-key")
        assert repeated.json()["output"] == 4
        assert post(again, "measure", {"x": 5}, "restart-key").status_code == 422
        assert_reused(post(again, "dark", {"exposure": 0.01}), dark, "cache")
        assert runs(again) == {}
    finally:
        again.stop()


@pytest.mark.timeout(60)
def test_keys_expire_and_an_ephemeral_server_keeps_them_in_memory() -> None:
    lab = ServedLab(TARGET, extra=["--ephemeral", "--option", "idempotency_keys_for=1"])
    try:
        first = post(lab, "measure", {"x": 1}, "short-lived")
        assert_new(first)
        assert_reused(post(lab, "measure", {"x": 1}, "short-lived"), first, "idempotency-key")
        time.sleep(1.5)
        later = post(lab, "measure", {"x": 1}, "short-lived")
        assert_new(later, first)
        assert_reused(post(lab, "measure", {"x": 1}, "short-lived"), later, "idempotency-key")
        assert runs(lab) == {"measure": 2}
    finally:
        lab.stop()


def test_the_same_key_from_many_clients_at_once_starts_one_invocation(
    served: ServedLab,
) -> None:
    barrier = threading.Barrier(8)
    replies: list[requests.Response] = []

    def send() -> None:
        barrier.wait(10)
        replies.append(post(served, "hold", {"seconds": 0.5}, "together", **ASYNC))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert sorted(reply.status_code for reply in replies) == [200] * 7 + [201]
    assert len({reply.json()["id"] for reply in replies}) == 1
    assert len({reply.headers["Location"] for reply in replies}) == 1
    assert runs(served).get("hold") == 1


def test_dedupe_joins_a_pending_or_running_scan(served: ServedLab) -> None:
    first = post(served, "scan", {"seconds": 10}, **ASYNC)
    assert_new(first)
    joined = post(served, "scan", {"seconds": 10, "label": ""})
    assert_reused(joined, first, "dedupe")
    assert joined.json()["status"] in ("pending", "running")
    assert joined.headers["Retry-After"]
    other = post(served, "scan", {"seconds": 10, "label": "other"}, **ASYNC)
    assert_new(other, first)
    cancel(served, first)
    cancel(served, other)
    after = post(served, "scan", {"seconds": 0.05}, **WAIT)
    assert_new(after, first, other)
    assert after.json()["status"] == "completed"
    again = post(served, "scan", {"seconds": 0.05}, **WAIT)  # it has finished: runs anew
    assert_new(again, after)
    assert runs(served)["scan"] == 4


def test_cache_for_hands_back_a_recent_result(served: ServedLab) -> None:
    first = post(served, "dark", {"exposure": 0.02})
    assert_new(first)
    assert first.json()["status"] == "completed" and first.json()["output"] == 0.2
    cached = post(served, "dark", {"exposure": 0.02, "fail": False})
    assert_reused(cached, first, "cache")
    assert cached.json()["output"] == 0.2
    assert_new(post(served, "dark", {"exposure": 0.03}), first)
    assert runs(served)["dark"] == 2

    short = post(served, "flash", {"level": 7})
    assert_reused(post(served, "flash", {"level": 7}), short, "cache")
    time.sleep(SHORT_CACHE + 0.5)
    assert_new(post(served, "flash", {"level": 7}), short)
    assert runs(served)["flash"] == 2


def test_failed_and_cancelled_results_are_never_reused(served: ServedLab) -> None:
    failed = post(served, "dark", {"fail": True})
    assert failed.json()["status"] == "error"
    assert_new(post(served, "dark", {"fail": True}), failed)
    slow = post(served, "dark", {"exposure": 9}, **ASYNC)
    cancel(served, slow)
    retried = post(served, "dark", {"exposure": 9}, **ASYNC)
    assert_new(retried, slow)
    cancel(served, retried)


def test_dedupe_then_cache_on_one_action(served: ServedLab) -> None:
    first = post(served, "both", {"seconds": 0.3}, **ASYNC)
    assert_reused(post(served, "both", {"seconds": 0.3}), first, "dedupe")
    completed = post(served, "both", {"seconds": 0.3}, **WAIT)
    assert completed.status_code == 200 and completed.json()["status"] == "completed"
    assert_reused(post(served, "both", {"seconds": 0.3}), first, "cache")
    assert runs(served)["both"] == 1
