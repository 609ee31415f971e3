"""Things for the tests of reused invocations (Idempotency-Key, `dedupe`, `cache_for`).

Each action counts its runs, so a test can tell a reused invocation from a new one
(`GET /counter/properties/runs`). `labthings serve tests/support/lab_dedupe.py:make_lab`
serves a fresh one; `--option idempotency_keys_for=SECONDS` shortens the keys' life.
"""

from __future__ import annotations

import threading
from collections import Counter as Tally
from typing import Annotated, Any

import schemathesis
from marshmallow.validate import Range
from schemathesis.checks import not_a_server_error, positive_data_acceptance

from labthings import LabThing, Thing, action, cancellable_sleep, fields, thing_property

SHORT_CACHE = 1.0
"""The lifetime of `flash` results, seconds: short enough to wait out in a test."""

Seconds = Annotated[float, fields.Float(validate=Range(0, 10))]


class Counter(Thing):
    """Actions that count how often they ran."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: Tally[str] = Tally()

    def _count(self, name: str) -> None:
        with self._lock:
            self._runs[name] += 1

    @thing_property
    def runs(self) -> dict[str, int]:
        """How often each action has run, by name."""
        with self._lock:
            return dict(self._runs)

    @action(lock=False)
    def measure(
        self, x: Annotated[int, fields.Integer(validate=Range(-1000, 1000))], y: int = 0
    ) -> int:
        """An ordinary action: runs every time it is asked."""
        self._count("measure")
        return x + y

    @action(lock=False, wait=0.2)
    def hold(self, seconds: Seconds = 1.0) -> float:
        """An ordinary action that takes a while (stops when cancelled)."""
        self._count("hold")
        cancellable_sleep(seconds)
        return seconds

    @action(lock=False, dedupe=True, wait=0.2)
    def scan(self, seconds: Seconds = 1.0, label: str = "") -> str:
        """A de-duplicated scan: a request like a pending or running one joins it."""
        self._count("scan")
        cancellable_sleep(seconds)
        return f"scanned {label}".strip()

    @action(lock=False, cache_for=3600, wait=0.5)
    def dark(self, exposure: Seconds = 0.0, fail: bool = False) -> float:
        """A dark reference, cached for an hour; `fail` makes it fail."""
        self._count("dark")
        cancellable_sleep(exposure)
        if fail:
            raise RuntimeError("the shutter is stuck")
        return exposure * 10

    @action(lock=False, cache_for=SHORT_CACHE)
    def flash(self, level: int = 1) -> int:
        """A result cached briefly."""
        self._count("flash")
        return level

    @action(lock=False, dedupe=True, cache_for=3600, wait=0.2)
    def both(self, seconds: Seconds = 0.5) -> float:
        """De-duplicated while running and cached once completed."""
        self._count("both")
        cancellable_sleep(seconds)
        return seconds


def make_lab(**settings: str | float) -> LabThing:
    """A LabThing serving a `Counter` as `counter`; settings may come as strings
    (`labthings serve ... --option idempotency_keys_for=2`)."""
    labthing = LabThing(
        title="Reuse lab",
        shutdown_wait=2.0,
        **{name: _number(value) for name, value in settings.items()},
    )
    labthing.add_thing("counter", Counter())
    return labthing


def _number(value: str | float) -> float:
    number = float(value)
    return int(number) if number.is_integer() else number


def fuzz_call(case: schemathesis.Case) -> None:
    """`case.call_and_validate()`, except that a 422 saying the request's Idempotency-Key
    was sent before with another body is a valid answer to valid data: it depends on
    what an earlier case sent, which the fuzzer cannot know."""
    response = case.call()
    excluded = []
    if response.status_code == 422 and "Idempotency-Key" in response.json().get("errors", {}):
        excluded.append(positive_data_acceptance)
    if response.status_code == 500 and _failed_on_purpose(response.json()):
        # `dark` with `fail: true` raises; a synchronous POST (`?sync=true`) answers with
        # the action's problem as a 500, as the WoT Profile says (tests/wot/test_forms.py).
        excluded.append(not_a_server_error)
    case.validate_response(response, excluded_checks=excluded)


def _failed_on_purpose(problem: dict[str, Any]) -> bool:
    return problem.get("type") == "urn:labthings:problem:action-failed" and (
        problem.get("detail") == "RuntimeError: the shutter is stuck"
    )
