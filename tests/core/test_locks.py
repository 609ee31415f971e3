"""`InstrumentLock`: one holder at a time, waiters served in arrival order, no spinning."""

from __future__ import annotations

import threading
import time

from core_helpers import WAIT, wait_until

from labthings.core.things.locks import InstrumentLock, Reservation


def queue_length(lock: InstrumentLock) -> int:
    return lock.waiting


def waiter(
    lock: InstrumentLock,
    name: str,
    order: list[str],
    results: dict[str, bool],
    timeout: float | None = WAIT,
    hold: float = 0.0,
) -> threading.Thread:
    """A thread that waits for the lock, records when it got it, and releases it."""

    def run() -> None:
        got = lock.acquire(name, timeout=timeout)
        results[name] = got
        if got:
            order.append(name)
            time.sleep(hold)
            lock.release()

    thread = threading.Thread(target=run, name=f"waiter-{name}")
    thread.start()
    return thread


def test_a_free_lock_is_taken_at_once_and_names_its_holder() -> None:
    lock = InstrumentLock()
    assert lock.holder is None
    assert lock.acquire("action 'move'", timeout=0)
    assert lock.holder == "action 'move'"
    lock.release()
    assert lock.holder is None


def test_it_is_not_reentrant() -> None:
    lock = InstrumentLock()
    assert lock.acquire("first")
    assert not lock.acquire("first again", timeout=0.01)
    assert lock.holder == "first"
    lock.release()


def test_a_timeout_returns_false_and_leaves_the_holder() -> None:
    lock = InstrumentLock()
    lock.acquire("action 'scan'")
    started = time.monotonic()
    assert not lock.acquire("a write", timeout=0.05)
    waited = time.monotonic() - started
    assert 0.04 <= waited < 1
    assert lock.holder == "action 'scan'"
    assert queue_length(lock) == 0
    lock.release()
    assert lock.acquire("a write", timeout=0)


def test_waiters_are_served_in_arrival_order() -> None:
    lock = InstrumentLock()
    lock.acquire("holder")
    order: list[str] = []
    results: dict[str, bool] = {}
    names = [f"w{index:02d}" for index in range(25)]
    threads = []
    for name in names:
        threads.append(waiter(lock, name, order, results))
        queued = len(threads)
        wait_until(lambda: queue_length(lock) == queued)  # noqa: B023 - called at once
    lock.release()
    for thread in threads:
        thread.join(WAIT)
    assert order == names
    assert lock.holder is None


def test_a_waiter_that_times_out_does_not_block_those_behind_it() -> None:
    lock = InstrumentLock()
    lock.acquire("holder")
    order: list[str] = []
    results: dict[str, bool] = {}
    impatient = waiter(lock, "impatient", order, results, timeout=0.05)
    wait_until(lambda: queue_length(lock) == 1)
    patient = waiter(lock, "patient", order, results)
    impatient.join(WAIT)
    assert results == {"impatient": False}
    assert queue_length(lock) == 1
    lock.release()
    patient.join(WAIT)
    assert order == ["patient"]


def test_waiting_does_not_spin() -> None:
    # Counts the waiting thread's own CPU time (not the process's, which other tests'
    # threads share): a waiter that spins would burn the whole wait.
    lock = InstrumentLock()
    lock.acquire("holder")
    used: list[float] = []

    def wait_for_lock() -> None:
        started = time.thread_time()
        assert lock.acquire("waiter", timeout=0.3) is False
        used.append(time.thread_time() - started)

    thread = threading.Thread(target=wait_for_lock)
    thread.start()
    thread.join(WAIT)
    assert used and used[0] < 0.05
    results: dict[str, bool] = {}
    threads = [waiter(lock, f"w{index}", [], results) for index in range(5)]
    wait_until(lambda: queue_length(lock) == 5)
    lock.release()
    for thread in threads:
        thread.join(WAIT)
    assert all(results.values()) and len(results) == 5


# -- reservations: queued without a thread ---------------------------------------------


class Turns:
    """Reservations that record when their turn came, and can refuse it."""

    def __init__(self, lock: InstrumentLock) -> None:
        self.lock = lock
        self.order: list[str] = []

    def reservation(self, name: str, accept: bool = True) -> Reservation:
        def on_turn() -> bool:
            self.order.append(name)
            return accept

        return Reservation(name, on_turn)


def test_a_free_lock_is_reserved_at_once_without_a_callback() -> None:
    lock = InstrumentLock()
    turns = Turns(lock)
    assert lock.reserve(turns.reservation("first"))
    assert lock.holder == "first" and turns.order == []
    assert not lock.reserve(turns.reservation("second"))
    assert lock.waiting == 1
    lock.release()
    assert turns.order == ["second"] and lock.holder == "second"


def test_reservations_and_blocked_waiters_share_one_arrival_order() -> None:
    lock = InstrumentLock()
    lock.acquire("holder")
    turns = Turns(lock)
    results: dict[str, bool] = {}
    lock.reserve(turns.reservation("task-1"))
    writer = waiter(lock, "write", turns.order, results)
    wait_until(lambda: lock.waiting == 2)
    lock.reserve(turns.reservation("task-2"))
    lock.release()  # task-1's turn: it holds the lock until it releases
    assert turns.order == ["task-1"] and lock.holder == "task-1"
    lock.release()  # the blocked writer's turn; it releases, and task-2's comes
    writer.join(WAIT)
    wait_until(lambda: turns.order == ["task-1", "write", "task-2"])
    assert lock.holder == "task-2"


def test_a_reservation_that_cannot_use_its_turn_passes_the_lock_on() -> None:
    lock = InstrumentLock()
    lock.acquire("holder")
    turns = Turns(lock)
    lock.reserve(turns.reservation("no-thread", accept=False))
    lock.reserve(turns.reservation("next"))
    lock.release()
    assert turns.order == ["no-thread", "next"] and lock.holder == "next"


def test_withdrawn_reservations_are_skipped_and_withdrawing_is_cheap() -> None:
    lock = InstrumentLock()
    lock.acquire("holder")
    turns = Turns(lock)
    queued = [turns.reservation(f"task-{index}") for index in range(20_000)]
    for reservation in queued:
        lock.reserve(reservation)
    started = time.thread_time()
    for reservation in queued[:-1]:
        assert lock.withdraw(reservation)
    assert time.thread_time() - started < 2  # a scan per withdrawal would take minutes
    assert not lock.withdraw(queued[0])  # twice: nothing to do
    assert lock.waiting == 1
    lock.release()
    assert turns.order == ["task-19999"]
    assert not lock.withdraw(queued[-1])  # granted: no longer waiting
