"""`InstrumentLock`: one holder at a time, waiters served in arrival order, no spinning."""

from __future__ import annotations

import threading
import time

from core_helpers import WAIT, wait_until

from labthings.core.things.locks import InstrumentLock


def queue_length(lock: InstrumentLock) -> int:
    with lock._condition:
        return len(lock._queue)


def waiter(
    lock: InstrumentLock,
    name: str,
    order: list[str],
    results: dict[str, bool],
    timeout: float | None = WAIT,
    cancelled: threading.Event | None = None,
    hold: float = 0.0,
) -> threading.Thread:
    """A thread that waits for the lock, records when it got it, and releases it."""

    def run() -> None:
        got = lock.acquire(name, timeout=timeout, cancelled=cancelled)
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


def test_a_cancelled_waiter_gives_up_when_woken_and_the_next_one_goes_first() -> None:
    lock = InstrumentLock()
    lock.acquire("holder")
    order: list[str] = []
    results: dict[str, bool] = {}
    cancel = threading.Event()
    first = waiter(lock, "cancelled", order, results, timeout=None, cancelled=cancel)
    wait_until(lambda: queue_length(lock) == 1)
    second = waiter(lock, "second", order, results)
    wait_until(lambda: queue_length(lock) == 2)

    started = time.monotonic()
    cancel.set()
    lock.wake()
    first.join(WAIT)
    assert time.monotonic() - started < 2
    assert results == {"cancelled": False}
    lock.release()
    second.join(WAIT)
    assert order == ["second"]


def test_a_waiter_already_cancelled_still_gets_a_free_lock() -> None:
    # The task decides what a late lock means; the lock just says it is held.
    lock = InstrumentLock()
    cancel = threading.Event()
    cancel.set()
    assert lock.acquire("late", cancelled=cancel)
    lock.release()


def test_queued_is_set_once_the_caller_is_in_the_queue() -> None:
    lock = InstrumentLock()
    lock.acquire("holder")
    queued = threading.Event()
    results: dict[str, bool] = {}
    thread = threading.Thread(
        target=lambda: results.setdefault("got", lock.acquire("w", timeout=WAIT, queued=queued))
    )
    thread.start()
    assert queued.wait(WAIT)
    assert queue_length(lock) == 1
    lock.release()
    thread.join(WAIT)
    assert results == {"got": True}


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
