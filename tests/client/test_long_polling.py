"""Following an invocation without its event stream: long-polling the record (`Prefer:
wait` and `If-None-Match`), one request per change at most, never a busy loop."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from client_support import CLIENT_LAB
from served import ServedLab

from labthings.client import Connection, Invocation, ThingClient, WaitTimeout


@pytest.fixture(scope="module")
def lab() -> Iterator[ServedLab]:
    served = ServedLab(CLIENT_LAB, extra=["--ephemeral", "--log-level", "debug"])
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture
def slow(lab: ServedLab) -> Iterator[Any]:
    with ThingClient.from_url(f"{lab.url}slow/") as client:
        yield client


def without_stream(invocation: Invocation) -> Invocation:
    """The same invocation, as a server that offers no event stream would describe it."""
    record = {**invocation.record, "links": []}
    return Invocation(Connection(), record, url=invocation.url)


def requests_for(lab: ServedLab, invocation: Invocation) -> int:
    return lab.output.count(f"GET /actions/{invocation.id} ")


def test_long_polling_follows_progress_to_the_output(lab: ServedLab, slow: Any) -> None:
    polled = without_stream(slow.sleep(seconds=1.0))
    updates = list(polled.updates(timeout=20))
    assert updates[-1].status == "completed" and polled.output == "slept"
    progress = [update.progress for update in updates if update.progress]
    assert progress == sorted(progress) and len(progress) >= 3
    # The action changes its record 22 times; a busy loop would ask hundreds of times.
    assert requests_for(lab, polled) <= 25


def test_a_quiet_action_is_one_held_request(lab: ServedLab, slow: Any) -> None:
    polled = without_stream(slow.nap(seconds=2.0))
    assert polled.wait(timeout=20) == 2.0
    assert requests_for(lab, polled) <= 3


def test_a_long_polled_wait_ends_at_its_timeout(lab: ServedLab, slow: Any) -> None:
    polled = without_stream(slow.nap(seconds=10.0))
    try:
        with pytest.raises(WaitTimeout):
            polled.wait(timeout=1)
    finally:
        polled.cancel()
    assert polled.status in ("cancelled", "running")
