"""Which CPUs labthings' Python threads run on: by default, the server's share one.

Only one Python thread runs at a time (the GIL), so threads that take turns (a request
thread and the task thread it waits for, or request threads under load) gain nothing
from several CPUs and pay for them: a thread woken on another CPU must be sent an
interrupt, and then often finds the GIL still held and sleeps again. On this project's
2-CPU virtual machine a wake-up round trip between two threads took 17 µs on one CPU
and 60-90 µs across two (`/proc` CPU time), and served POSTs of an instant action
(`bench/compare.py`, W3) went 1.5x as fast with the threads on one CPU.

`ThreadPinning` is how the server does it: each request thread moves itself to the
chosen CPU before its first request, and the threads it starts (task workers) inherit
that CPU. The main thread and granian's I/O threads keep every CPU. A child process
would inherit its starting thread's CPU too, so programs are started inside
`every_cpu()`. Linux only; elsewhere, or when the process has one CPU, nothing changes.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["ThreadPinning", "every_cpu", "process_cpus"]

_logger = logging.getLogger(__name__)


def process_cpus() -> frozenset[int]:
    """The CPUs this process may run on: those of its main thread, which labthings never
    pins (empty where the platform cannot tell)."""
    if sys.platform != "linux":
        return frozenset()
    return frozenset(os.sched_getaffinity(os.getpid()))


class ThreadPinning:
    """Moves each thread that calls `pin()` to one CPU of the process.

    The CPU is picked among the process's by process id, so that several servers on one
    machine spread over its CPUs. `enabled=False` pins nothing.
    """

    def __init__(self, enabled: bool = True) -> None:
        cpus = sorted(process_cpus())
        self.cpu = cpus[os.getpid() % len(cpus)] if enabled and len(cpus) > 1 else None
        """The CPU pinned threads share, or None if `pin` does nothing."""
        self._pinned = threading.local()

    def pin(self) -> None:
        """Move the calling thread to the chosen CPU (once per thread; later calls cost a
        look-up). Never raises: if the CPU cannot be had (a container's CPU set changed,
        say), pinning stops and the threads run wherever they may."""
        if sys.platform != "linux" or self.cpu is None or getattr(self._pinned, "done", False):
            return
        self._pinned.done = True
        try:
            os.sched_setaffinity(0, {self.cpu})
        except OSError as error:
            _logger.warning("threads are no longer kept on CPU %s: %s", self.cpu, error)
            self.cpu = None


@contextmanager
def every_cpu() -> Iterator[None]:
    """Within the block the calling thread runs on all the process's CPUs, so that a
    process it starts there may use them all; its own CPUs come back afterwards. If the
    CPUs cannot be changed, the block runs as it is."""
    if sys.platform != "linux":
        yield
        return
    own = frozenset(os.sched_getaffinity(0))
    wide = process_cpus()
    try:
        if own != wide:
            os.sched_setaffinity(0, wide)
    except OSError:
        own = wide  # nothing was changed, so nothing to give back
    try:
        yield
    finally:
        if own != wide:
            try:
                os.sched_setaffinity(0, own)
            except OSError:  # the CPU set changed meanwhile: the thread keeps every CPU
                pass
