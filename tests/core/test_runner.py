"""`TaskRunner`: invoking, listing, cancelling, history, the instrument lock, shutdown."""

from __future__ import annotations

import errno
import math
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from core_helpers import WAIT, FakeClock, Gates, finish, invoke, read, serve, wait_until, write

from labthings import (
    ConfigurationError,
    InstrumentBusyError,
    NotFoundError,
    Settings,
    TaskStatus,
    TaskThread,
    Thing,
    ValidationError,
    action,
    cancellable_sleep,
    raise_if_cancelled,
    thing_property,
)
from labthings.core.errors import ServerBusyError, ShuttingDownError, TaskFinishedError
from labthings.core.live.hub import Event, EventHub
from labthings.core.tasks import runner as runner_module
from labthings.core.tasks.history import History
from labthings.core.tasks.runner import TaskRunner
from labthings.core.tasks.workers import WORKERS
from labthings.core.things.registry import ThingEntry


class Instrument(Thing):
    """An instrument whose actions block on gates the test opens."""

    speed = thing_property(float, default=1.0)
    note = thing_property(str, default="", lock=False)

    def __init__(self, gates: Gates) -> None:
        self.gates = gates
        self.ran: list[str] = []
        self._mode = "idle"

    @thing_property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        self.ran.append(f"set mode {value}")
        self._mode = value

    @action
    def hold(self, gate: str) -> str:
        """Hold the instrument until the gate opens, ignoring cancellation."""
        self.gates[f"{gate} started"].set()
        self.gates[gate].wait(WAIT)
        return gate

    @action
    def wait_for(self, gate: str) -> str:
        """Wait for the gate, stopping promptly when cancelled."""
        self.gates[f"{gate} started"].set()
        while not self.gates[gate].wait(0.005):
            raise_if_cancelled()
        return gate

    @action
    def record(self, label: str) -> str:
        self.ran.append(label)
        return label

    @action(lock=False)
    def quick(self, n: int = 0, pause: float = 0.0) -> int:
        cancellable_sleep(pause)
        return n

    @action
    def fail(self) -> None:
        raise RuntimeError("motor stalled")

    @action
    def bad_output(self) -> float:
        return math.nan


@pytest.fixture
def instrument(gates: Gates) -> Instrument:
    return Instrument(gates)


@pytest.fixture
def entry(instrument: Instrument) -> ThingEntry:
    return serve(instrument, "stage")


def started(gates: Gates, gate: str) -> None:
    assert gates[f"{gate} started"].wait(WAIT), f"{gate!r} did not start"


def walk(runner: TaskRunner, limit: int, **filters: Any) -> list[str]:
    """Every record id, following next_cursor from the newest page to the oldest."""
    ids: list[str] = []
    before = None
    for _ in range(10_000):
        page = runner.page(limit=limit, before=before, **filters)
        ids += [record["id"] for record in page.records]
        if page.next_cursor is None:
            return ids
        assert len(page.records) == limit
        before = page.next_cursor
    pytest.fail("paging did not end")


# -- invoking --------------------------------------------------------------------------


def test_invoke_starts_a_task_with_validated_input(runner: TaskRunner, entry: ThingEntry) -> None:
    task = invoke(runner, entry, "quick", {"n": 7})
    record = finish(task)
    assert record["status"] == "completed" and record["output"] == 7
    assert record["input"] == {"n": 7, "pause": 0.0}  # defaults applied
    assert (record["thing"], record["action"]) == ("stage", "quick")
    kept = runner.get(task.id)  # history keeps the finished record, not the thread
    assert kept.id == task.id and kept.finished
    assert kept.versioned_snapshot() == task.versioned_snapshot()
    assert not kept.cancel() and kept.wait(0)


def test_an_empty_body_is_no_arguments(runner: TaskRunner, entry: ThingEntry) -> None:
    assert finish(invoke(runner, entry, "quick", {}))["output"] == 0


@pytest.mark.parametrize(
    ("body", "bad"),
    [
        ({"n": "1"}, {"n"}),
        ({"n": 1.5, "pause": True}, {"n", "pause"}),
        ({"n": 1, "extra": 2}, {"extra"}),
        ([1], {"_schema"}),
        ("n=1", {"_schema"}),
    ],
)
def test_invalid_input_raises_and_creates_no_task(
    runner: TaskRunner, entry: ThingEntry, body: Any, bad: set[str]
) -> None:
    with pytest.raises(ValidationError) as caught:
        invoke(runner, entry, "quick", body)
    assert set(caught.value.errors) == bad
    assert runner.page(limit=100).records == []


def test_a_missing_required_argument_creates_no_task(
    runner: TaskRunner, entry: ThingEntry, instrument: Instrument
) -> None:
    with pytest.raises(ValidationError) as caught:
        invoke(runner, entry, "record", {})
    assert caught.value.errors == {"label": ["Missing data for required field."]}
    assert runner.page(limit=100).records == []
    assert instrument.ran == []


def test_unknown_actions_and_invocations_are_not_found(
    runner: TaskRunner, entry: ThingEntry
) -> None:
    with pytest.raises(NotFoundError, match="no action 'jump'"):
        invoke(runner, entry, "jump", {})
    with pytest.raises(NotFoundError, match="no invocation"):
        runner.get("no-such-id")
    with pytest.raises(NotFoundError):
        runner.cancel("no-such-id", wait=0)
    assert runner.page(limit=100).records == []


def test_errors_and_bad_outputs_end_as_error_records(runner: TaskRunner, entry: ThingEntry) -> None:
    failed = finish(invoke(runner, entry, "fail", {}))
    assert failed["status"] == "error" and "motor stalled" in failed["error"]["detail"]
    bad = finish(invoke(runner, entry, "bad_output", {}))
    assert bad["status"] == "error" and "NaN" in bad["error"]["detail"]


# -- listing ---------------------------------------------------------------------------


def test_page_lists_newest_first(runner: TaskRunner, entry: ThingEntry) -> None:
    tasks = [invoke(runner, entry, "quick", {"n": n}) for n in range(5)]
    for task in tasks:
        finish(task)
    page = runner.page(limit=100)
    assert [record["id"] for record in page.records] == [task.id for task in reversed(tasks)]
    assert page.next_cursor is None


def test_page_filters_by_thing_action_and_status(
    runner: TaskRunner, entry: ThingEntry, gates: Gates
) -> None:
    other = serve(Instrument(gates), "camera")
    done = finish(invoke(runner, entry, "quick", {}))
    failed = finish(invoke(runner, entry, "fail", {}))
    elsewhere = finish(invoke(runner, other, "quick", {}))
    running = invoke(runner, entry, "wait_for", {"gate": "g"})
    started(gates, "g")

    def ids(**filters: Any) -> list[str]:
        return [record["id"] for record in runner.page(limit=100, **filters).records]

    assert ids(thing="camera") == [elsewhere["id"]]
    assert ids(thing="stage") == [running.id, failed["id"], done["id"]]
    assert ids(action="quick") == [elsewhere["id"], done["id"]]
    assert ids(thing="stage", action="quick") == [done["id"]]
    assert ids(statuses={TaskStatus.ERROR}) == [failed["id"]]
    assert ids(statuses={TaskStatus.RUNNING, TaskStatus.ERROR}) == [running.id, failed["id"]]
    assert ids(statuses={TaskStatus.CANCELLED}) == []
    assert ids(thing="nothing") == []


@pytest.mark.parametrize(("count", "limit"), [(23, 5), (10, 5), (3, 10), (1, 1), (0, 3)])
def test_paging_walks_every_record_exactly_once(
    runner: TaskRunner, entry: ThingEntry, count: int, limit: int
) -> None:
    tasks = [invoke(runner, entry, "quick", {"n": n}) for n in range(count)]
    for task in tasks:
        finish(task)
    assert walk(runner, limit) == [task.id for task in reversed(tasks)]
    first = runner.page(limit=limit)
    assert len(first.records) == min(limit, count)
    assert (first.next_cursor is None) == (count <= limit)


def test_paging_with_a_filter_walks_only_matching_records(
    runner: TaskRunner, entry: ThingEntry
) -> None:
    tasks = [invoke(runner, entry, "quick" if n % 3 else "fail", {}) for n in range(20)]
    for task in tasks:
        finish(task)
    failing = [task.id for task in reversed(tasks) if task.action == "fail"]
    assert walk(runner, 2, action="fail") == failing
    assert walk(runner, 3, statuses={TaskStatus.ERROR}) == failing


def test_an_invocation_stored_late_is_neither_skipped_nor_repeated(
    runner: TaskRunner, entry: ThingEntry, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two invocations at once: the first one requested is the last one stored.
    constructed, proceed = threading.Event(), threading.Event()

    class SlowToStore(TaskThread):
        def __init__(self, **options: Any) -> None:
            super().__init__(**options)
            if options["arguments"]["n"] == 1:
                constructed.set()
                proceed.wait(WAIT)

    monkeypatch.setattr(runner_module, "TaskThread", SlowToStore)
    results: dict[str, TaskThread] = {}
    thread = threading.Thread(
        target=lambda: results.setdefault("first", invoke(runner, entry, "quick", {"n": 1}))
    )
    thread.start()
    assert constructed.wait(WAIT)
    second = invoke(runner, entry, "quick", {"n": 2})
    proceed.set()
    thread.join(WAIT)
    first = results["first"]
    finish(first)
    finish(second)
    walked = walk(runner, 1)
    assert sorted(walked) == sorted([first.id, second.id])  # each exactly once
    assert [r["id"] for r in runner.page(limit=10).records] == walked


def test_records_are_consistent_snapshots(runner: TaskRunner, entry: ThingEntry) -> None:
    task = invoke(runner, entry, "quick", {"n": 1})
    finish(task)
    record = runner.page(limit=1).records[0]
    assert record == task.snapshot()
    record["status"] = "mangled"
    assert runner.page(limit=1).records[0]["status"] == "completed"


# -- cancelling ------------------------------------------------------------------------


def test_cancel_stops_a_cooperative_task(
    runner: TaskRunner, entry: ThingEntry, gates: Gates
) -> None:
    task = invoke(runner, entry, "wait_for", {"gate": "g"})
    started(gates, "g")
    began = time.monotonic()
    cancelled, ended = runner.cancel(task.id, wait=WAIT)
    assert cancelled is task and ended
    assert time.monotonic() - began < 0.5
    assert task.snapshot()["status"] == "cancelled"


def test_cancel_of_a_task_that_ignores_it_reports_it_still_running(
    runner: TaskRunner, entry: ThingEntry, gates: Gates
) -> None:
    task = invoke(runner, entry, "hold", {"gate": "g"})
    started(gates, "g")
    cancelled, ended = runner.cancel(task.id, wait=0.05)
    assert cancelled is task and not ended
    record = task.snapshot()
    assert record["status"] == "running" and record["cancelRequested"] is True
    gates["g"].set()
    assert finish(task)["status"] == "completed"


def test_cancel_of_a_finished_task_is_refused_and_changes_nothing(
    runner: TaskRunner, entry: ThingEntry
) -> None:
    task = invoke(runner, entry, "quick", {"n": 0})
    before = finish(task)
    with pytest.raises(TaskFinishedError, match="already finished"):
        runner.cancel(task.id, wait=1)
    assert task.snapshot() == before
    assert before["output"] == 0 and before["status"] == "completed"


# -- history ---------------------------------------------------------------------------


def test_finished_tasks_are_evicted_by_count_but_running_ones_never(
    make_runner: Callable[..., TaskRunner], entry: ThingEntry, gates: Gates
) -> None:
    runner = make_runner(history_max_count=3)
    long = [invoke(runner, entry, "quick", {"n": n, "pause": 30}) for n in range(2)]
    blocked = invoke(runner, entry, "wait_for", {"gate": "g"})
    started(gates, "g")
    waiting = invoke(runner, entry, "record", {"label": "waits for the lock"})
    quick = [finish(invoke(runner, entry, "quick", {"n": n})) for n in range(10)]

    listed = [record["id"] for record in runner.page(limit=100).records]
    kept = [record["id"] for record in reversed(quick[-3:])]
    assert listed == kept + [waiting.id, blocked.id] + [task.id for task in reversed(long)]
    assert waiting.status is TaskStatus.PENDING
    with pytest.raises(NotFoundError):
        runner.get(quick[0]["id"])
    for task in [waiting, *long, blocked]:  # the waiting one first, or it would get the lock
        assert runner.get(task.id) is task  # still running: the thread itself
        assert runner.cancel(task.id, wait=WAIT) == (task, True)
        assert task.snapshot()["status"] == "cancelled"


def test_finished_tasks_are_evicted_by_age_but_running_ones_never(
    make_runner: Callable[..., TaskRunner], entry: ThingEntry
) -> None:
    clock = FakeClock()
    runner = make_runner(history_max_age=60, clock=clock)
    long = invoke(runner, entry, "quick", {"pause": 30})
    done = [finish(invoke(runner, entry, "quick", {"n": n}))["id"] for n in range(3)]
    assert [r["id"] for r in runner.page(limit=100).records] == [*reversed(done), long.id]
    clock.advance(59)
    assert [r["id"] for r in runner.page(limit=100).records] == [*reversed(done), long.id]
    clock.advance(2)
    assert [r["id"] for r in runner.page(limit=100).records] == [long.id]
    with pytest.raises(NotFoundError):
        runner.get(done[0])
    assert runner.cancel(long.id, wait=WAIT) == (long, True)


def test_a_zero_history_keeps_only_unfinished_tasks(
    make_runner: Callable[..., TaskRunner], entry: ThingEntry
) -> None:
    runner = make_runner(history_max_count=0)
    long = invoke(runner, entry, "quick", {"pause": 30})
    finish(invoke(runner, entry, "quick", {}))
    assert [r["id"] for r in runner.page(limit=10).records] == [long.id]


def test_many_quick_tasks_never_evict_long_running_ones(
    make_runner: Callable[..., TaskRunner], entry: ThingEntry
) -> None:
    runner = make_runner(history_max_count=5, history_max_age=3600)
    long = [invoke(runner, entry, "quick", {"n": n, "pause": 30}) for n in range(3)]
    for n in range(60):
        invoke(runner, entry, "quick", {"n": n})
    wait_until(lambda: len(runner.page(limit=100).records) <= 8)
    listed = {record["id"] for record in runner.page(limit=100).records}
    assert {task.id for task in long} <= listed
    for task in long:
        assert runner.cancel(task.id, wait=WAIT)[1]


# -- the instrument lock, through the runner -------------------------------------------


def test_actions_take_the_lock_in_the_order_they_were_invoked(
    runner: TaskRunner, entry: ThingEntry, instrument: Instrument, gates: Gates
) -> None:
    blocker = invoke(runner, entry, "hold", {"gate": "g"})
    started(gates, "g")
    labels = [f"task {n:02d}" for n in range(20)]
    tasks = [invoke(runner, entry, "record", {"label": label}) for label in labels]
    assert all(task.status is TaskStatus.PENDING for task in tasks)
    gates["g"].set()
    for task in tasks:
        assert finish(task)["status"] == "completed"
    assert instrument.ran == labels
    assert finish(blocker)["status"] == "completed"
    assert entry.lock.holder is None


def test_queued_tasks_hold_no_thread_and_run_in_arrival_order(
    runner: TaskRunner, entry: ThingEntry, instrument: Instrument, gates: Gates
) -> None:
    blocker = invoke(runner, entry, "hold", {"gate": "g"})
    started(gates, "g")
    threads_before = threading.active_count()
    labels = [f"t{index}" for index in range(300)]
    queued = [invoke(runner, entry, "record", {"label": label}) for label in labels]
    assert threading.active_count() == threads_before  # 300 pending, no thread each
    assert all(task.status is TaskStatus.PENDING for task in queued)
    gates["g"].set()
    finish(blocker)
    for task in queued:
        finish(task)
    assert instrument.ran == labels


class NoThreads:
    """Makes getting a thread for a task fail, as at a process's thread limit with no
    idle worker."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.refuse = True
        original = WORKERS.run

        def run(job: Callable[[], None], name: str) -> None:
            if self.refuse:
                raise RuntimeError("can't start new thread")
            original(job, name)

        monkeypatch.setattr(WORKERS, "run", run)


def test_a_task_that_cannot_get_a_thread_now_is_busy_and_leaves_no_record(
    runner: TaskRunner, entry: ThingEntry, monkeypatch: pytest.MonkeyPatch
) -> None:
    NoThreads(monkeypatch)
    with pytest.raises(ServerBusyError, match="try again"):
        invoke(runner, entry, "record", {"label": "never"})
    with pytest.raises(ServerBusyError, match="try again"):
        invoke(runner, entry, "quick", {})  # an action without the lock, too
    assert runner.page(limit=10).records == []
    assert entry.lock.holder is None  # the lock it took was given back


def test_a_queued_task_that_cannot_get_a_thread_ends_in_error_and_the_next_runs(
    runner: TaskRunner,
    entry: ThingEntry,
    instrument: Instrument,
    gates: Gates,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    blocker = invoke(runner, entry, "hold", {"gate": "g"})
    started(gates, "g")
    unlucky = invoke(runner, entry, "record", {"label": "unlucky"})
    no_threads = NoThreads(monkeypatch)
    gates["g"].set()
    record = finish(unlucky)  # its turn came while no thread could start
    assert record["status"] == "error"
    assert record["error"]["type"] == "urn:labthings:problem:no-thread"
    finish(blocker)
    no_threads.refuse = False
    assert finish(invoke(runner, entry, "record", {"label": "next"}))["status"] == "completed"
    assert instrument.ran == ["next"]


def test_an_invocation_that_cannot_be_stored_is_refused_and_never_runs(
    runner: TaskRunner,
    entry: ThingEntry,
    instrument: Instrument,
    gates: Gates,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    blocker = invoke(runner, entry, "hold", {"gate": "g"})
    started(gates, "g")

    def disk_full(history: History, seq: int, first_record: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(History, "add", disk_full)
    with pytest.raises(OSError, match="No space"):
        invoke(runner, entry, "record", {"label": "queued, not stored"})
    with pytest.raises(OSError, match="No space"):
        invoke(runner, entry, "quick", {})  # one that would run at once, too
    monkeypatch.undo()
    gates["g"].set()
    finish(blocker)
    assert finish(invoke(runner, entry, "record", {"label": "next"}))["status"] == "completed"
    assert instrument.ran == ["next"]  # the refused one gave its place in the queue up


def test_pending_invocations_are_capped_per_thing_and_in_all(
    make_runner: Callable[..., TaskRunner], entry: ThingEntry, gates: Gates
) -> None:
    runner = make_runner(max_pending_per_thing=2, max_pending=3)
    camera = serve(Instrument(gates), "camera")
    invoke(runner, entry, "hold", {"gate": "g"})
    invoke(runner, camera, "hold", {"gate": "c"})
    started(gates, "g")
    started(gates, "c")
    queued = [invoke(runner, entry, "record", {"label": "x"}) for _ in range(2)]
    with pytest.raises(ServerBusyError, match="'stage' already has 2"):
        invoke(runner, entry, "record", {"label": "refused"})
    invoke(runner, camera, "record", {"label": "y"})
    with pytest.raises(ServerBusyError, match="already has 3 invocations waiting"):
        invoke(runner, camera, "record", {"label": "refused"})
    assert len(runner.page(limit=100).records) == 5  # refused POSTs left nothing
    queued[0].cancel()  # room again
    invoke(runner, entry, "record", {"label": "z"})
    gates.open_all()


def test_a_task_waiting_for_the_lock_is_pending_and_cancels_at_once(
    runner: TaskRunner, entry: ThingEntry, instrument: Instrument, gates: Gates
) -> None:
    blocker = invoke(runner, entry, "hold", {"gate": "g"})
    started(gates, "g")
    waiting = invoke(runner, entry, "record", {"label": "cancelled"})
    behind = invoke(runner, entry, "record", {"label": "behind"})
    record = waiting.snapshot()
    assert record["status"] == "pending" and record["timeStarted"] is None

    began = time.monotonic()
    task, ended = runner.cancel(waiting.id, wait=0)
    assert task is waiting and ended  # no waiting needed: it never started
    assert time.monotonic() - began < 0.1
    record = waiting.snapshot()
    assert record["status"] == "cancelled" and record["timeStarted"] is None

    gates["g"].set()
    assert finish(behind)["status"] == "completed"
    assert finish(waiting)["status"] == "cancelled"
    assert instrument.ran == ["behind"]
    assert blocker.wait(WAIT)


@pytest.mark.parametrize("first", ["fail", "bad_output", "cancelled"])
def test_the_lock_is_released_however_an_action_ends(
    runner: TaskRunner, entry: ThingEntry, instrument: Instrument, gates: Gates, first: str
) -> None:
    if first == "cancelled":
        task = invoke(runner, entry, "wait_for", {"gate": "g"})
        started(gates, "g")
        runner.cancel(task.id, wait=WAIT)
    else:
        task = invoke(runner, entry, first, {})
    assert finish(task)["status"] in {"error", "cancelled"}
    assert finish(invoke(runner, entry, "record", {"label": "next"}))["status"] == "completed"
    assert instrument.ran == ["next"]
    assert entry.lock.holder is None


def test_an_action_without_the_lock_runs_while_the_instrument_is_busy(
    runner: TaskRunner, entry: ThingEntry, gates: Gates
) -> None:
    blocker = invoke(runner, entry, "hold", {"gate": "g"})
    started(gates, "g")
    assert finish(invoke(runner, entry, "quick", {"n": 3}))["output"] == 3
    assert blocker.status is TaskStatus.RUNNING


def test_a_property_write_while_an_action_holds_the_lock_says_what_holds_it(
    runner: TaskRunner, entry: ThingEntry, instrument: Instrument, gates: Gates
) -> None:
    blocker = invoke(runner, entry, "hold", {"gate": "g"})
    started(gates, "g")
    began = time.monotonic()
    with pytest.raises(InstrumentBusyError) as caught:
        write(entry, "speed", 5.0, lock_timeout=0.05)
    assert 0.04 <= time.monotonic() - began < 1
    message = str(caught.value)
    assert "action 'hold'" in message and blocker.id in message
    assert instrument.speed == 1.0
    assert read(entry, "speed") == 1.0  # reads never wait


def test_a_property_without_the_lock_is_written_while_busy(
    runner: TaskRunner, entry: ThingEntry, instrument: Instrument, gates: Gates
) -> None:
    invoke(runner, entry, "hold", {"gate": "g"})
    started(gates, "g")
    assert write(entry, "note", "busy", lock_timeout=0) == "busy"
    assert instrument.note == "busy"


def test_a_property_write_waits_its_turn_among_actions(
    runner: TaskRunner, entry: ThingEntry, instrument: Instrument, gates: Gates
) -> None:
    blocker = invoke(runner, entry, "hold", {"gate": "g"})
    started(gates, "g")
    before = invoke(runner, entry, "record", {"label": "action before"})
    written: dict[str, Any] = {}
    writer = threading.Thread(
        target=lambda: written.setdefault("mode", write(entry, "mode", "scan", lock_timeout=WAIT))
    )
    writer.start()
    wait_until(lambda: len(entry.lock._queue) == 2)
    after = invoke(runner, entry, "record", {"label": "action after"})
    gates["g"].set()
    writer.join(WAIT)
    finish(before)
    finish(after)
    finish(blocker)
    assert written == {"mode": "scan"}
    assert instrument.ran == ["action before", "set mode scan", "action after"]


# -- concurrency -----------------------------------------------------------------------


def test_listing_while_many_threads_invoke_never_fails_or_loses_a_task(
    runner: TaskRunner, entry: ThingEntry
) -> None:
    invoked: list[str] = []
    invoked_lock = threading.Lock()
    failures: list[BaseException] = []
    deadline = time.monotonic() + 1.0
    writers_done = threading.Event()

    def invoke_some() -> None:
        try:
            for n in range(10):
                task = invoke(runner, entry, "quick", {"n": n, "pause": random.random() / 50})
                with invoked_lock:
                    invoked.append(task.id)
                time.sleep(random.random() / 10)
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            failures.append(error)

    def list_in_a_loop() -> None:
        try:
            while time.monotonic() < deadline or not writers_done.is_set():
                runner.page(limit=50)
                runner.page(limit=10, statuses={TaskStatus.RUNNING, TaskStatus.PENDING})
                with invoked_lock:
                    some = invoked[-5:]
                for task_id in some:
                    runner.get(task_id).snapshot()
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            failures.append(error)

    writers = [threading.Thread(target=invoke_some) for _ in range(24)]
    readers = [threading.Thread(target=list_in_a_loop) for _ in range(5)]
    for thread in writers + readers:
        thread.start()
    for thread in writers:
        thread.join(WAIT * 2)
    writers_done.set()
    for thread in readers:
        thread.join(WAIT * 2)

    assert failures == []
    assert not any(thread.is_alive() for thread in writers + readers)
    assert len(invoked) == 240
    for task_id in invoked:
        assert finish(runner.get(task_id))["status"] == "completed"
    listed = walk(runner, 37)
    assert len(listed) == len(set(listed)) == 240
    assert set(listed) == set(invoked)


# -- shutdown --------------------------------------------------------------------------


def test_shutdown_cancels_tasks_refuses_new_ones_and_returns_the_stuck_ones(
    runner: TaskRunner, entry: ThingEntry, gates: Gates, instrument: Instrument
) -> None:
    camera = serve(Instrument(gates), "camera")
    stuck = invoke(runner, entry, "hold", {"gate": "stuck"})
    started(gates, "stuck")
    pending = invoke(runner, entry, "record", {"label": "never"})
    cooperative = invoke(runner, camera, "wait_for", {"gate": "coop"})
    started(gates, "coop")
    done = finish(invoke(runner, camera, "quick", {"n": 1}))

    began = time.monotonic()
    assert runner.shutdown(wait=0.2) == [stuck]
    assert time.monotonic() - began < 1
    assert cooperative.snapshot()["status"] == "cancelled"
    assert pending.snapshot()["status"] == "cancelled"
    assert stuck.snapshot()["status"] == "running"
    assert stuck.snapshot()["cancelRequested"] is True
    assert runner.get(done["id"]).snapshot() == done

    with pytest.raises(ShuttingDownError):
        invoke(runner, entry, "quick", {})
    gates["stuck"].set()
    assert finish(stuck)["status"] == "completed"
    assert instrument.ran == []


def test_shutdown_with_nothing_running_returns_at_once(
    runner: TaskRunner, entry: ThingEntry
) -> None:
    finish(invoke(runner, entry, "quick", {}))
    began = time.monotonic()
    assert runner.shutdown(wait=5) == []
    assert time.monotonic() - began < 0.5


# -- settings --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"history_max_count": -1},
        {"history_max_age": "1h"},
        {"max_wait": True},
        {"list_default_limit": 0},
        {"list_default_limit": 50, "list_max_limit": 10},
    ],
)
def test_bad_settings_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        Settings(**options)


def test_settings_have_lab_friendly_defaults() -> None:
    settings = Settings()
    assert settings.history_max_count > 0 and settings.task_log_max > 0
    assert settings.list_default_limit <= settings.list_max_limit


class FlakyHub(EventHub):
    """A hub whose first publish fails, as a broken watcher filter might."""

    def __init__(self) -> None:
        super().__init__()
        self.fail_next = True

    def publish(self, topic: str, kind: str, data: Any) -> Event:
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("hub broke once")
        return super().publish(topic, kind, data)


def test_a_failing_hub_never_loses_a_finish(entry: ThingEntry) -> None:
    hub = FlakyHub()
    runner = TaskRunner(Settings(history_max_count=1), hub)
    watcher = hub.subscribe(lambda event: event.kind == "record")
    try:
        first = finish(invoke(runner, entry, "quick", {"n": 1}))
        finish(invoke(runner, entry, "quick", {"n": 2}))
        # The runner recorded both finishes (so it evicted the first by count) ...
        with pytest.raises(NotFoundError):
            runner.get(first["id"])
        # ... and watchers got both final records although the hub failed once before.
        records = [watcher.get(WAIT), watcher.get(WAIT)]
        assert [getattr(item, "data", {}).get("output") for item in records] == [1, 2]
    finally:
        watcher.close()
        runner.shutdown(WAIT)
