"""A LabThing for `bench/live_updates.py`: a property, and an action that stamps the time
into each progress message so a watcher can measure how late it hears of it."""

from __future__ import annotations

import time

from labthings import LabThing, Thing, action, thing_property, update_task_progress


class Pulse(Thing):
    """Sends timestamped progress updates."""

    value = thing_property(float, default=1.5, lock=False)

    @action(lock=False)
    def pulse(self, count: int = 200, interval: float = 0.01) -> int:
        """Report progress `count` times, `interval` s apart; each message is time.time()."""
        for step in range(count):
            update_task_progress(100 * (step + 1) / count, repr(time.time()))
            time.sleep(interval)
        return count


labthing = LabThing(title="Live updates benchmark")
labthing.add_thing("pulse", Pulse())
