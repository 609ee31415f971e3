"""The task runner: starts invocations, keeps their history, lists and cancels them."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from labthings.core.errors import (
    NotFoundError,
    ServerBusyError,
    ShuttingDownError,
    TaskFinishedError,
)
from labthings.core.live.hub import EventHub
from labthings.core.settings import Settings
from labthings.core.tasks.finished import FinishedInvocation, Invocation
from labthings.core.tasks.record import TaskStatus
from labthings.core.tasks.thread import TaskThread
from labthings.core.things.actions import ActionAffordance
from labthings.core.things.registry import ThingEntry

__all__ = ["Page", "TaskRunner"]


@dataclass(frozen=True)
class Page:
    """One page of invocation records, newest first, and the cursor of the next page."""

    records: list[dict[str, Any]]
    next_cursor: int | None


class TaskRunner:
    """Owns every TaskThread of a server.

    History is bounded: finished tasks beyond `history_max_count`, or finished longer
    ago than `history_max_age`, are evicted oldest first. Pending and running tasks are
    never evicted, so they can always be found and cancelled.
    """

    def __init__(
        self,
        settings: Settings,
        hub: EventHub | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`clock` gives the time in seconds since the epoch (tests pass their own)."""
        self._settings = settings
        self._clock = clock
        self._hub = hub
        self._tasks: dict[str, Invocation] = {}
        self._finished: deque[FinishedInvocation] = deque()  # in the order they finished
        self._sequence = itertools.count(1)
        # Reentrant: a task that cannot start may end (and be recorded) inside invoke().
        self._lock = threading.RLock()
        self._closed = False
        self._pending: dict[str, str] = {}  # id -> Thing, of invocations not yet running
        self._pending_by_thing: Counter[str] = Counter()

    def invoke(
        self,
        entry: ThingEntry,
        affordance: ActionAffordance,
        body: Any,
        *,
        requested_by: str | None = None,
    ) -> TaskThread:
        """Validate `body` against an action of `entry` and start its task (none if invalid).

        `requested_by` names who asked (an access token's name), for the record.
        """
        arguments = affordance.validate_input(body)
        task = TaskThread(
            thing=entry.name,
            action=affordance.name,
            target=getattr(entry.thing, affordance.name),
            arguments=arguments,
            input_record=affordance.dump_input(arguments),
            dump_output=affordance.dump_output,
            instrument_lock=entry.lock if affordance.lock else None,
            log_limit=self._settings.task_log_max,
            listener=self._changed,
            requested_by=requested_by,
        )
        with self._lock:
            if self._closed:
                raise ShuttingDownError("the server is shutting down; no new invocations")
            self._check_room_locked(entry.name)
            # Numbered under the lock that orders the history, so paging by `seq` never
            # skips or repeats a task that two concurrent invokes stored out of order;
            # started (or queued for its Thing's lock) under it too, so that tasks take
            # the lock in that same order.
            task.seq = next(self._sequence)
            self._tasks[task.id] = task
            self._pending[task.id] = entry.name
            self._pending_by_thing[entry.name] += 1
            try:
                task.start()
            except ServerBusyError:
                del self._tasks[task.id]  # it never ran: no record is left behind
                self._forget_pending_locked(task.id)
                raise
            self._evict_locked()
        return task

    def _check_room_locked(self, thing: str) -> None:
        """ServerBusyError if the pending invocations of `thing`, or of all, are at their cap."""
        settings = self._settings
        if self._pending_by_thing[thing] >= settings.max_pending_per_thing:
            raise ServerBusyError(
                f"thing {thing!r} already has {settings.max_pending_per_thing} invocations "
                "waiting; try again when some have run"
            )
        if len(self._pending) >= settings.max_pending:
            raise ServerBusyError(
                f"the server already has {settings.max_pending} invocations waiting; "
                "try again when some have run"
            )

    def _forget_pending_locked(self, task_id: str) -> None:
        thing = self._pending.pop(task_id, None)
        if thing is not None:
            self._pending_by_thing[thing] -= 1

    def _changed(self, task: TaskThread, kind: str, data: dict[str, Any]) -> None:
        """A task changed: note when it starts or finishes, and tell the hub."""
        if kind != "log" and data["status"] != TaskStatus.PENDING.value:
            with self._lock:
                self._forget_pending_locked(task.id)
        if kind == "record":
            compact = FinishedInvocation(task, data)
            with self._lock:
                if task.id in self._tasks:  # swap the thread for its frozen record
                    self._tasks[task.id] = compact
                self._finished.append(compact)
                self._evict_locked()
        if self._hub is not None:  # after the bookkeeping, which a hub failure must not stop
            self._hub.publish(f"task/{task.id}", kind, data)

    def get(self, task_id: str) -> Invocation:
        """The task with this id, or NotFoundError (unknown, or evicted from history)."""
        with self._lock:
            task = self._tasks.get(task_id)
        if task is None:
            raise NotFoundError(f"no invocation with id {task_id!r}")
        return task

    def page(
        self,
        *,
        thing: str | None = None,
        action: str | None = None,
        statuses: Collection[TaskStatus] = (),
        limit: int,
        before: int | None = None,
    ) -> Page:
        """Records matching the filters, newest first, at most `limit`, older than `before`.

        The list of tasks is copied under the runner's lock and each record under its
        task's lock, so concurrent starts and finishes never break a listing.
        """
        with self._lock:
            self._evict_locked()
            tasks = list(self._tasks.values())  # in `seq` order: see invoke()
        records: list[dict[str, Any]] = []
        last_seq = 0
        for task in reversed(tasks):
            if before is not None and task.seq >= before:
                continue
            if (thing is not None and task.thing != thing) or (
                action is not None and task.action != action
            ):
                continue
            record = task.snapshot()
            if statuses and TaskStatus(record["status"]) not in statuses:
                continue
            if len(records) == limit:
                return Page(records, next_cursor=last_seq)
            records.append(record)
            last_seq = task.seq
        return Page(records, next_cursor=None)

    def cancel(self, task_id: str, wait: float) -> tuple[Invocation, bool]:
        """Ask a task to stop and wait up to `wait` s; (task, whether it has ended).

        Raises TaskFinishedError (and changes nothing) if it had already finished.
        """
        task = self.get(task_id)
        if not task.cancel():
            raise TaskFinishedError(
                f"invocation {task_id} has already finished ({task.status.value}); "
                "it cannot be cancelled"
            )
        return task, task.wait(wait)

    def shutdown(self, wait: float) -> list[TaskThread]:
        """Refuse new tasks, cancel every unfinished one, and wait up to `wait` s in all.

        Returns the tasks still running afterwards (they ignored cancellation).
        """
        with self._lock:
            self._closed = True
            unfinished = [task for task in self._tasks.values() if isinstance(task, TaskThread)]
        for task in unfinished:
            task.cancel()
        deadline = time.monotonic() + wait
        for task in unfinished:
            task.wait(max(0.0, deadline - time.monotonic()))
        return [task for task in unfinished if not task.finished]

    def _evict_locked(self) -> None:
        """Drop the tasks that finished longest ago beyond the count and age bounds.

        Only finished tasks are in `_finished`, oldest first, so this looks at as few
        tasks as it evicts (plus one).
        """
        oldest_allowed = self._clock() - self._settings.history_max_age
        while self._finished:
            first = self._finished[0]
            completed = first.time_completed
            too_old = completed is not None and completed.timestamp() < oldest_allowed
            if len(self._finished) <= self._settings.history_max_count and not too_old:
                return
            self._finished.popleft()
            self._tasks.pop(first.id, None)
