"""The instrument lock: one user of a Thing's hardware at a time, in arrival order."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["InstrumentLock", "Reservation"]


class Reservation:
    """A place in the lock's queue that holds no thread while it waits.

    When its turn comes the lock is given to `owner` and `on_turn` is called (by the
    thread that released the lock). `on_turn` returns False if it could not use the lock
    (a thread could not be started); the lock then passes to the next in line.
    """

    __slots__ = ("on_turn", "owner", "withdrawn")

    def __init__(self, owner: str, on_turn: Callable[[], bool]) -> None:
        self.owner = owner
        self.on_turn = on_turn
        self.withdrawn = False


class InstrumentLock:
    """A first-come-first-served, non-reentrant lock that knows who holds it.

    Two kinds of waiter share one queue, served strictly in arrival order: callers of
    `acquire`, which block (a property write, with a timeout), and `Reservation`s, which
    hold no thread until their turn (a queued action). A blocked waiter sleeps on a
    condition variable (it never spins) and gives up at its timeout.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._queue: deque[object] = deque()
        self._pending: set[Reservation] = set()  # reservations queued and not yet granted
        self._withdrawn = 0  # withdrawn reservations still in the queue (skipped lazily)
        self._holder: str | None = None

    @property
    def holder(self) -> str | None:
        """A description of the current holder, or None when free."""
        return self._holder

    @property
    def waiting(self) -> int:
        """How many waiters and reservations are queued."""
        return len(self._queue) - self._withdrawn

    def acquire(self, owner: str, timeout: float | None = None) -> bool:
        """Wait for the lock in turn; False on timeout, True once held.

        `owner` describes the holder for error messages ("a write of property 'speed'").
        `timeout` None waits for as long as it takes.
        """
        ticket = object()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._condition:
            self._queue.append(ticket)
            while True:
                self._skip_withdrawn_locked()
                if self._holder is None and self._queue[0] is ticket:
                    self._queue.popleft()
                    self._holder = owner
                    return True
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    self._queue.remove(ticket)
                    granted = self._grant_locked()
                    break
                self._condition.wait(remaining)
        self._hand_over(granted)
        return False

    def reserve(self, reservation: Reservation) -> bool:
        """Queue `reservation`; True if the lock is free and now held by it.

        When True, the caller uses the lock at once (`on_turn` is not called) and
        releases it when done; otherwise `on_turn` is called when its turn comes.
        """
        with self._condition:
            if self._holder is None and not self._queue:
                self._holder = reservation.owner
                return True
            self._queue.append(reservation)
            self._pending.add(reservation)
            return False

    def withdraw(self, reservation: Reservation) -> bool:
        """Take a waiting reservation out of the queue; False if it was not waiting.

        Constant time: it is marked and skipped when it reaches the front, so that
        cancelling thousands of queued actions does not cost thousands of queue scans.
        """
        with self._condition:
            if reservation.withdrawn or not self._is_waiting_locked(reservation):
                return False
            reservation.withdrawn = True
            self._withdrawn += 1
            granted = self._grant_locked()
        self._hand_over(granted)
        return True

    def release(self) -> None:
        """Free the lock and let the next in line have it."""
        with self._condition:
            self._holder = None
            granted = self._grant_locked()
        self._hand_over(granted)

    def _is_waiting_locked(self, reservation: Reservation) -> bool:
        """True while `reservation` is queued: appended and not yet granted."""
        return reservation in self._pending

    def _skip_withdrawn_locked(self) -> None:
        while self._queue and isinstance(self._queue[0], Reservation) and self._queue[0].withdrawn:
            withdrawn = self._queue.popleft()
            assert isinstance(withdrawn, Reservation)
            self._pending.discard(withdrawn)
            self._withdrawn -= 1

    def _grant_locked(self) -> Reservation | None:
        """If the lock is free and a reservation is first in line, give it the lock."""
        self._condition.notify_all()  # a blocked waiter may now be first
        self._skip_withdrawn_locked()
        if self._holder is None and self._queue and isinstance(self._queue[0], Reservation):
            reservation = self._queue.popleft()
            assert isinstance(reservation, Reservation)
            self._pending.discard(reservation)
            self._holder = reservation.owner
            return reservation
        return None

    def _hand_over(self, granted: Reservation | None) -> None:
        """Call each granted reservation (outside the lock) until one takes the lock."""
        while granted is not None and not granted.on_turn():
            with self._condition:
                self._holder = None
                granted = self._grant_locked()
