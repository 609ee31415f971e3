"""Helpers for the tests of the core (no Flask, no HTTP); the fixtures are in core_fixtures.

Every wait here is bounded, so a hang fails a test instead of freezing CI.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from labthings.core.tasks.runner import TaskRunner
from labthings.core.tasks.thread import TaskThread
from labthings.core.things.actions import ActionAffordance
from labthings.core.things.properties import PropertyAffordance
from labthings.core.things.registry import ThingEntry, ThingRegistry
from labthings.core.things.thing import Thing

WAIT = 5.0
"""The longest any test waits for something that should happen at once."""


def wait_until(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    """Poll `condition` until it is true; fail the test if it is not within `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.002)


def finish(task: TaskThread, timeout: float = WAIT) -> dict[str, Any]:
    """Wait for `task` to finish (failing the test if it does not) and return its record."""
    if not task.wait(timeout):
        pytest.fail(f"task {task.action} did not finish within {timeout} s")
    return task.snapshot()


def start_task(target: Callable[..., Any], **options: Any) -> TaskThread:
    """Start a TaskThread running `target` with no arguments, outside any runner."""
    name = getattr(target, "__name__", "act")
    task = TaskThread(thing="thing", action=name, target=target, arguments={}, **options)
    task.start()
    return task


def serve(thing: Thing, name: str = "thing") -> ThingEntry:
    """Register `thing` in a fresh registry and return its entry."""
    return ThingRegistry("Test lab").add(name, thing)


class Gates:
    """Named events that blocking actions wait on; `open_all` releases every one."""

    def __init__(self) -> None:
        self._events: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def __getitem__(self, name: str) -> threading.Event:
        with self._lock:
            return self._events.setdefault(name, threading.Event())

    def open_all(self) -> None:
        with self._lock:
            for event in self._events.values():
                event.set()


def invoke(runner: TaskRunner, entry: ThingEntry, action: str, body: Any) -> TaskThread:
    """Start the action named `action` of `entry` through `runner`, as a POST would."""
    return runner.invoke(entry, entry.affordance(action, ActionAffordance), body)


def read(entry: ThingEntry, name: str) -> Any:
    """The JSON value of the property `name` of `entry`."""
    return entry.read_property(entry.affordance(name, PropertyAffordance))


def write(entry: ThingEntry, name: str, value: Any, lock_timeout: float) -> Any:
    """Write the property `name` of `entry` as a PUT would; the value read back."""
    return entry.write_property(entry.affordance(name, PropertyAffordance), value, lock_timeout)


class FakeClock:
    """A clock for `TaskRunner(clock=...)` that moves only when told, from the real now."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
