"""`Scheduler`: run pieces of work at given times on a few threads, however many wait.

One thread keeps a heap of due times and sleeps on a condition variable until the
earliest is due (or an earlier one is added, or `wake` is called); what is due goes to a
small pool of worker threads. So a thousand jobs waiting between checks cost a heap
entry each, not a thread. The threads start with the first piece of work, and are
daemons: a check that never returns cannot keep the process alive.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable

__all__ = ["Scheduler", "WORKERS"]

_logger = logging.getLogger(__name__)

WORKERS = 4
"""Worker threads per scheduler: at most this many pieces of work run at once."""

Work = Callable[[], None]


class Scheduler:
    """Runs work at due times (seconds on `clock`, the epoch by default) on `workers`
    threads, each piece once, in due order. Thread-safe."""

    def __init__(
        self,
        *,
        workers: int = WORKERS,
        clock: Callable[[], float] = time.time,
        name: str = "labthings-scheduler",
    ) -> None:
        self._workers = workers
        self._clock = clock
        self._name = name
        self._due = threading.Condition()
        self._heap: list[tuple[float, int, Work]] = []
        self._order = itertools.count()  # ties run in the order they were added
        self._ready: queue.SimpleQueue[Work | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._stopped = False
        self._idle = threading.Condition()
        self._running = 0

    @property
    def threads(self) -> int:
        """Threads started so far (0 until the first piece of work; never more than
        `workers` + 1)."""
        return len(self._threads)

    def at(self, due: float, work: Work) -> bool:
        """Run `work` once `clock()` reaches `due` (at once if it has); False (and it
        never runs) if the scheduler has stopped."""
        with self._due:
            if self._stopped:
                return False
            if not self._threads:
                self._start_threads()
            order = next(self._order)
            heapq.heappush(self._heap, (due, order, work))
            if self._heap[0][1] == order:
                self._due.notify()  # it is the earliest: the loop's sleep is too long
        return True

    def soon(self, work: Work) -> bool:
        """Run `work` as soon as a worker is free; False if the scheduler has stopped."""
        return self.at(float("-inf"), work)

    def wake(self) -> None:
        """Look at the clock again now (for a clock that jumps, such as a test's)."""
        with self._due:
            self._due.notify()

    def stop(self) -> None:
        """Start no more work: what is waiting or queued is dropped, and the threads end
        once the work they are running returns. Idempotent; never blocks for long."""
        with self._due:
            if self._stopped:
                return
            self._stopped = True
            self._heap.clear()
            dropped = 0
            while True:
                try:
                    self._ready.get_nowait()
                except queue.Empty:
                    break
                dropped += 1
            with self._idle:
                self._running -= dropped
                self._idle.notify_all()
            for _ in range(len(self._threads) - 1):  # the workers (the first is the loop)
                self._ready.put(None)
            self._due.notify()

    def wait_idle(self, timeout: float) -> bool:
        """Wait up to `timeout` s until no work is running; True if none is."""
        with self._idle:
            return self._idle.wait_for(lambda: self._running == 0, max(0.0, timeout))

    def _start_threads(self) -> None:
        """Start the loop and the workers (the caller holds `_due`)."""
        loop = threading.Thread(target=self._loop, name=f"{self._name}-loop", daemon=True)
        self._threads.append(loop)
        loop.start()
        for number in range(self._workers):
            worker = threading.Thread(
                target=self._work, name=f"{self._name}-worker-{number}", daemon=True
            )
            self._threads.append(worker)
            worker.start()

    def _loop(self) -> None:
        """Hand due work to the workers; sleep until the next is due (no polling)."""
        with self._due:
            while not self._stopped:
                if not self._heap:
                    self._due.wait()
                    continue
                wait = self._heap[0][0] - self._clock()
                if wait > 0:
                    self._due.wait(wait)
                    continue
                _, _, work = heapq.heappop(self._heap)
                with self._idle:
                    self._running += 1  # counted from now, so wait_idle sees it queued
                self._ready.put(work)

    def _work(self) -> None:
        while (work := self._ready.get()) is not None:
            try:
                work()
            except Exception:  # the work's own failures are its business; keep serving
                _logger.exception("scheduled work failed")
            finally:
                with self._idle:
                    self._running -= 1
                    self._idle.notify_all()
