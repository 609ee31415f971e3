"""The benchmark Thing on labthings (this repository), for `labthings serve`.

Served by the harness as
`python -m labthings serve bench/peers/labthings_app.py:labthing --port N`, i.e. on
granian with the settings `labthings serve` always uses.

Actions and the property do not take the instrument lock (`lock=False`): neither peer
locks by default, and 200 concurrent `sleep` calls (W5) must run side by side.
"""

from __future__ import annotations

import time

from labthings import (
    LabThing,
    Thing,
    action,
    cancellable_sleep,
    thing_property,
    update_task_progress,
)

STEP = 0.05


class Bench(Thing):
    """A float property and two actions: one instant, one slow."""

    value = thing_property(float, default=0.0, lock=False)

    @action(lock=False)
    def add(self, a: float, b: float) -> float:
        """Return a + b at once."""
        return a + b

    @action(lock=False)
    def sleep(self, seconds: float) -> float:
        """Sleep in 50 ms steps, reporting progress after each; return the seconds slept."""
        steps = max(1, round(seconds / STEP))
        for step in range(1, steps + 1):
            cancellable_sleep(seconds / steps)
            update_task_progress(100 * step / steps)
        return seconds

    @action(lock=False)
    def pulse(self, count: int = 200, interval: float = 0.01) -> int:
        """W7 only (push updates are labthings' alone): report progress `count` times,
        `interval` s apart, each message being the time.time() it was sent."""
        for step in range(count):
            update_task_progress(100 * (step + 1) / count, repr(time.time()))
            time.sleep(interval)
        return count


labthing = LabThing(title="bench")
labthing.add_thing("bench", Bench())
