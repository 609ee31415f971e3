"""Things used by the HTTP and end-to-end tests, and a LabThing factory serving them.

`labthings serve tests/lab_for_tests.py:make_labthing` serves a fresh one.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Annotated

from marshmallow.validate import Range

from labthings import (
    LabThing,
    Thing,
    action,
    cancellable_sleep,
    fields,
    raise_if_cancelled,
    thing_event,
    thing_property,
    update_task_data,
    update_task_progress,
)

logger = logging.getLogger("lab_for_tests")


class Calculator(Thing):
    """Instant actions, for checking records and outputs."""

    value = thing_property(float, default=1.5)
    readonly_value = thing_property(int, default=7, readonly=True)
    limited = thing_property(fields.Integer(validate=Range(min=0, max=10)), default=5)
    free = thing_property(str, default="", lock=False)
    setpoint = thing_property(float, default=0.0, persist=True)

    @thing_property
    def answer(self) -> int:
        """A computed read-only property."""
        return 42

    @action(lock=False)
    def add(self, a: float, b: float) -> float:
        """Add two numbers at once."""
        return a + b

    announced = thing_event(str, description="Something was announced.")

    @action(lock=False)
    def announce(self, text: str) -> None:
        """Emit `announced` with the text."""
        self.emit("announced", text)

    @action(lock=False)
    def echo(self, value: Annotated[object, fields.Raw(allow_none=True)] = None) -> object:
        """Return what was sent: 0, false, "" and [] must come back as themselves."""
        return value

    @thing_property
    def broken(self) -> int:
        """A property whose getter fails with a secret in the message."""
        raise RuntimeError("secret internal detail")

    @action(lock=False)
    def fail(self, message: str = "it broke") -> None:
        """Log, then raise an error."""
        logger.info("about to fail with %r", message)
        raise RuntimeError(message)


class Slow(Thing):
    """Actions that take time, hold the instrument lock, and report progress."""

    speed = thing_property(float, default=1.0)

    @action
    def sleep(self, seconds: Annotated[float, fields.Float(validate=Range(0, 60))] = 0.2) -> str:
        """Sleep in 50 ms steps, reporting progress; stops when cancelled."""
        steps = max(1, round(seconds / 0.05))
        for step in range(steps):
            cancellable_sleep(seconds / steps)
            update_task_progress(100 * (step + 1) / steps, f"step {step + 1}")
        update_task_data({"steps": steps})
        return "slept"

    @action(lock=False)
    def chatter(
        self, count: Annotated[int, fields.Integer(validate=Range(0, 100_000))] = 100
    ) -> int:
        """Report progress `count` times as fast as it can, logging every tenth step.

        It stops when cancelled: a fuzzer's large `count` must not outlive its test.
        """
        for step in range(count):
            raise_if_cancelled()
            update_task_progress(100 * (step + 1) / count, f"step {step + 1}")
            if step % 10 == 0:
                logger.info("step %d", step + 1)
        return count

    @action(lock=False)
    def nap(self, seconds: Annotated[float, fields.Float(validate=Range(0, 60))] = 0.2) -> float:
        """Sleep without taking the instrument lock."""
        cancellable_sleep(seconds)
        return seconds

    @action(lock=False, wait=0)
    def tidy(self, tidying: Annotated[float, fields.Float(validate=Range(0, 10))] = 0.5) -> str:
        """Wait to be cancelled, then take `tidying` s to put things away, and say so."""
        try:
            cancellable_sleep(60)
        except BaseException:
            time.sleep(tidying)
            logger.info("tidied up")
            raise
        return "never cancelled"

    @action(lock=False, wait=0)
    def stubborn(self, seconds: Annotated[float, fields.Float(validate=Range(0, 60))] = 1.0) -> str:
        """Ignore cancellation for `seconds`."""
        time.sleep(seconds)
        return "done anyway"


class Recorder(Thing):
    """Writes a line to $LABTHINGS_TEST_RECORD when opened and closed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def _record(self, line: str) -> None:
        path = os.environ.get("LABTHINGS_TEST_RECORD")
        if path:
            with self._lock, Path(path).open("a", encoding="utf-8") as file:
                file.write(line + "\n")

    def __enter__(self) -> Recorder:
        self._record("enter")
        return self

    def __exit__(self, *exc: object) -> None:
        self._record("exit")


def make_labthing(**settings: float) -> LabThing:
    """A LabThing serving one of each test Thing."""
    labthing = LabThing(title="Test lab", description="Things for tests", **settings)
    labthing.add_thing("calc", Calculator())
    labthing.add_thing("slow", Slow())
    labthing.add_thing("recorder", Recorder())
    return labthing
