"""`longer_gil_turns`: in a served process, threads that wait for the GIL wake less often.

CPython's GIL makes a waiting thread wake every "switch interval" (5 ms by default) to
ask the holder to let go. Each waiting thread does so on its own, so a burst of
requests, with hundreds of request and task threads waiting their turn on the server's
CPU, spends that CPU on wake-ups: W5's burst (200 clients POST a 1 s action at once,
`bench/loadgen.py` as `bench/compare.py` runs it, each on a fresh server) settled in
1.307 s (median of 10 runs, worst 1.388) at 5 ms and 1.281 s (worst 1.305) at 20 ms, in
runs alternated on one machine; W1 and W3 did not change.

The cost: a thread computing in pure Python keeps the GIL for 20 ms at a time instead of
5, so a property read while such an action runs took 24 ms instead of 8 (median of 200
sequential GETs). Actions that compute for long belong in a process of their own (a
Celery worker) or in libraries that let the GIL go (numpy), which are not affected.

Only `labthings serve` calls it: a program that imports labthings keeps its own setting.
"""

from __future__ import annotations

import sys

__all__ = ["SERVED_SWITCH_INTERVAL", "longer_gil_turns"]

SERVED_SWITCH_INTERVAL = 0.02
"""Seconds a thread waiting for the GIL lets pass before asking the holder for it."""


def longer_gil_turns() -> None:
    """Make threads wait `SERVED_SWITCH_INTERVAL` for the GIL before asking for it."""
    sys.setswitchinterval(SERVED_SWITCH_INTERVAL)
