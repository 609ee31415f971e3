"""The instrument lock: one user of a Thing's hardware at a time, in arrival order."""

from __future__ import annotations

import threading
import time
from collections import deque

__all__ = ["InstrumentLock"]


class InstrumentLock:
    """A first-come-first-served, non-reentrant lock that knows who holds it.

    Waiters are served strictly in the order they called `acquire`. A waiter can give
    up on a timeout or when its cancel event is set (after `wake()`), without ever
    spinning: it sleeps on a condition variable.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._queue: deque[object] = deque()
        self._holder: str | None = None

    @property
    def holder(self) -> str | None:
        """A description of the current holder, or None when free."""
        return self._holder

    def acquire(
        self,
        owner: str,
        timeout: float | None = None,
        cancelled: threading.Event | None = None,
        queued: threading.Event | None = None,
    ) -> bool:
        """Wait for the lock in turn; False on timeout or cancellation, True once held.

        `owner` describes the holder for error messages ("action 'move' (invocation
        ...)"). `timeout` None waits for as long as it takes. `queued`, if given, is set
        as soon as the caller has its place in the queue.
        """
        ticket = object()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._condition:
            self._queue.append(ticket)
            if queued is not None:
                queued.set()
            while True:
                if self._holder is None and self._queue[0] is ticket:
                    self._queue.popleft()
                    self._holder = owner
                    return True
                remaining = None if deadline is None else deadline - time.monotonic()
                gave_up = (cancelled is not None and cancelled.is_set()) or (
                    remaining is not None and remaining <= 0
                )
                if gave_up:
                    self._queue.remove(ticket)
                    self._condition.notify_all()  # the next in line may now be first
                    return False
                self._condition.wait(remaining)

    def release(self) -> None:
        """Free the lock and let the next waiter in."""
        with self._condition:
            self._holder = None
            self._condition.notify_all()

    def wake(self) -> None:
        """Wake every waiter so that one whose cancel event is set can give up."""
        with self._condition:
            self._condition.notify_all()
