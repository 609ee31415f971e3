"""The task runner: starts invocations, keeps their history, lists and cancels them.

Unfinished tasks live in memory as TaskThreads; every record is in the `History`
(SQLite) from the moment its task is started, and a finished one only there, so memory
stays flat however large the history and its outputs. An action that returns a
`RemoteJob` hands its invocation to the runner's `RemoteJobs` (see remote.py), which
checks it, stores it, and resumes it after a restart (`resume_remote_jobs`). A compute
action whose executor is configured (`executors`, see executors.py) is sent away by its
task thread and followed the same way.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from labthings.core.errors import (
    NotFoundError,
    ServerBusyError,
    ShuttingDownError,
    TaskFinishedError,
)
from labthings.core.jsonvalues import json_text, to_json_value
from labthings.core.live.hub import EventHub
from labthings.core.programs.folders import PROGRAMS_FOLDER, WorkFolders
from labthings.core.settings import Settings
from labthings.core.tasks.blobs import BlobStore
from labthings.core.tasks.executors import Executor
from labthings.core.tasks.finished import FinishedInvocation, Invocation
from labthings.core.tasks.history import CompletedInput, History
from labthings.core.tasks.record import FINISHED, ListedRecord, TaskStatus, restored_state
from labthings.core.tasks.remote import RemoteJobs
from labthings.core.tasks.remote_store import RemoteStore
from labthings.core.tasks.thread import TaskThread
from labthings.core.things.actions import ActionAffordance
from labthings.core.things.blob import Blob
from labthings.core.things.persistence import STATE_FILE
from labthings.core.things.registry import ThingEntry, ThingRegistry

__all__ = ["Page", "TaskRunner"]

_logger = logging.getLogger(__name__)
_FINISHED_VALUES = frozenset(status.value for status in FINISHED)
_PENDING = TaskStatus.PENDING.value


@dataclass(frozen=True)
class Page:
    """One page of invocation records, newest first, and the cursor of the next page."""

    listed: list[ListedRecord]
    next_cursor: int | None

    @property
    def records(self) -> list[dict[str, Any]]:
        """The records, decoded."""
        return [json.loads(item.text) for item in self.listed]


class _Run(NamedTuple):
    """How a task of an action runs."""

    target: Callable[..., Any]
    """What its thread calls with the arguments."""
    owner: object
    """Whose methods check a remote job it returns: the Thing, or an executor."""
    dump_output: Callable[[Any], Any]
    """How its output becomes JSON."""
    elsewhere: bool
    """Its thread only sends the work to an executor: it stays `pending` till then."""


class TaskRunner:
    """Owns every TaskThread of a server, and its history.

    History is bounded: finished invocations beyond `history_max_count`, finished longer
    ago than `history_max_age`, or past `history_max_bytes` are evicted oldest-finished
    first, with their blobs. Pending and running ones are never evicted, so they can
    always be found and cancelled.
    """

    def __init__(
        self,
        settings: Settings,
        hub: EventHub | None = None,
        *,
        clock: Callable[[], float] = time.time,
        data_dir: Path | None = None,
    ) -> None:
        """Keep the history in `data_dir` (durable), or in memory for None.

        `clock` gives the time in seconds since the epoch (tests pass their own).
        """
        self._settings = settings
        self._hub = hub
        self._blobs = BlobStore(None if data_dir is None else data_dir / "blobs")
        remote_store = RemoteStore(None if data_dir is None else data_dir / STATE_FILE)
        self.remote = RemoteJobs(remote_store, clock=clock)
        """The remote jobs being checked (see `resume_remote_jobs`)."""
        self.executors: dict[str, Executor] = {}
        """Where compute actions go, by executor name (`@action(executor=...)`); an
        action whose executor is not here runs in a task thread like any other."""
        self._history = History(
            None if data_dir is None else data_dir / STATE_FILE,
            max_count=settings.history_max_count,
            max_age=settings.history_max_age,
            max_bytes=settings.history_max_bytes,
            clock=clock,
            on_evict=self._blobs.remove,
            resumable=remote_store.ids(),
        )
        self._tasks: dict[str, TaskThread] = {}  # unfinished ones, in start order
        self._folders = WorkFolders(
            None if data_dir is None else data_dir / PROGRAMS_FOLDER,
            settings.program_folder_keep,
            in_use=self._tasks.__contains__,
            clock=clock,
        )
        self._sequence = itertools.count(self._history.next_seq())
        # Reentrant: a task that cannot start may end (and be recorded) inside invoke().
        self._lock = threading.RLock()
        self._closed = False
        self._deadline: float | None = None  # of the first shutdown; later ones keep it
        self._pending: dict[str, str] = {}  # id -> Thing, of invocations not yet running
        self._pending_by_thing: Counter[str] = Counter()
        self._finish_listeners: list[Callable[[dict[str, Any]], None]] = []

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
        return self.start(
            entry, affordance, affordance.validate_input(body), requested_by=requested_by
        )

    def start(
        self,
        entry: ThingEntry,
        affordance: ActionAffordance,
        arguments: dict[str, Any],
        *,
        requested_by: str | None = None,
        input_record: dict[str, Any] | None = None,
    ) -> TaskThread:
        """Start a task of an action of `entry` with arguments it has already validated;
        `input_record` is their JSON form for the record, if the caller has made it."""
        run = self._how_to_run(entry.thing, affordance)
        task = TaskThread(
            thing=entry.name,
            action=affordance.name,
            target=run.target,
            arguments=arguments,
            input_record=affordance.dump_input(arguments) if input_record is None else input_record,
            dump_output=run.dump_output,
            instrument_lock=entry.lock if affordance.lock else None,
            log_limit=self._settings.task_log_max,
            listener=self._changed,
            requested_by=requested_by,
            persist=self._persist,
            work_folders=self._folders,
            handoff=functools.partial(self.remote.adopt, run.owner),
            stays_pending=run.elsewhere,
        )
        with self._lock:
            if self._closed:
                raise ShuttingDownError("the server is shutting down; no new invocations")
            self._check_room_locked(entry.name)
            # Numbered under the lock, so that paging by `seq` never skips or repeats a
            # task that two concurrent invokes started; queued for its Thing's lock under
            # it too, so that tasks take the lock in that same order. Written to the
            # history's log first: no task runs that a restart would not find.
            # Its thread starts after: the new thread's first change needs this lock,
            # and other requests should not wait for a thread start.
            task.seq = next(self._sequence)
            self._history.add(task.seq, task.snapshot)
            self._tasks[task.id] = task
            self._pending[task.id] = entry.name
            self._pending_by_thing[entry.name] += 1
            runs_now = task.reserve()
        if runs_now:
            try:
                task.launch()
            except ServerBusyError:
                with self._lock:
                    self._tasks.pop(task.id, None)
                    self._forget_pending_locked(task.id)
                self._history.remove(task.seq)  # it never ran: no record is left behind
                raise
        return task

    def _how_to_run(self, thing: object, affordance: ActionAffordance) -> _Run:
        """How a task of `affordance` runs: the action itself, or its executor's `submit`."""
        executor = self.executors.get(affordance.executor)
        if executor is None:
            return _Run(getattr(thing, affordance.name), thing, affordance.dump_output, False)

        def submit(**arguments: Any) -> Any:
            return executor.submit(thing, affordance, arguments)

        return _Run(submit, executor, to_json_value, True)  # the executor's output is JSON

    def on_finish(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """Call `listener(record)` with each final record as soon as it is stored, before
        anyone waiting for the task hears that it ended. A failing listener is logged."""
        self._finish_listeners.append(listener)

    def completed_since(self, thing: str, action: str, since: float) -> list[CompletedInput]:
        """The invocations of `thing`'s `action` that completed at or after `since`
        (seconds since the epoch), oldest first, with their inputs."""
        return self._history.completed_since(thing, action, since)

    @property
    def interrupted(self) -> int:
        """Invocations found pending or running from a previous run (now `error`)."""
        return self._history.interrupted

    def resume_remote_jobs(self, registry: ThingRegistry) -> int:
        """Go on checking the remote jobs an earlier run left unfinished, once the Things
        of `registry` are open; how many there were. A job whose Thing or check method is
        gone ends in `error`."""
        count = 0
        for stored in self.remote.stored():
            row = self._history.get(stored.id)
            if row is None or row.record["status"] in _FINISHED_VALUES:
                self.remote.discard(stored.id)  # it ended just before the server stopped
                continue
            entry = next((entry for entry in registry if entry.name == stored.thing), None)
            found = (
                None
                if entry is None
                else entry.thing.affordance(row.record["action"], ActionAffordance)
            )
            owner: object | None = None if entry is None else entry.thing
            dump_output: Callable[[Any], Any] = to_json_value
            if entry is not None and found is not None:
                run = self._how_to_run(entry.thing, found)
                owner, dump_output = run.owner, run.dump_output
            task = TaskThread.resumed(
                restored_state(stored.record, self._settings.task_log_max),
                stored.version,
                dump_output=dump_output,
                listener=self._changed,
                persist=self._persist,
            )
            task.seq = row.seq
            with self._lock:
                self._tasks[task.id] = task
            self.remote.resume(task, stored, owner)
            count += 1
        return count

    def _persist(self, task: TaskThread, record: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """Commit a task's final record; a large or binary output goes to a blob first.
        Returns the record as stored and its JSON text."""
        output = record["output"]
        extra = 0
        if isinstance(output, Blob):
            extra = self._blobs.put(task.id, output)
            record = {**record, "output": None, "outputMediaType": output.media_type}
        elif output is not None and not isinstance(output, (bool, int, float)):
            text = json_text(output)
            if len(text) > self._settings.blob_threshold:
                blob = Blob(text.encode("utf-8"), "application/json")
                extra = self._blobs.put(task.id, blob)
                record = {**record, "output": None, "outputMediaType": blob.media_type}
        text = json_text(record)
        self._history.finish(task.seq, task.version + 1, record, text, extra)
        for listener in self._finish_listeners:
            try:
                listener(record)
            except Exception:
                _logger.exception("a finish listener failed on invocation %s", task.id)
        return record, text

    def output_file(self, task_id: str) -> tuple[Path, str] | None:
        """(file, media type) of an invocation's blob output, or None if it has none."""
        stored = self._history.get(task_id)
        if stored is None or not stored.record.get("outputMediaType"):
            return None
        return self._blobs.path(stored.record["id"]), stored.record["outputMediaType"]

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
        # Only a task's first change out of `pending` finds it in `_pending`: the
        # lock-free look spares every later update (progress, messages) the lock.
        if task.id in self._pending and kind != "log" and data["status"] != _PENDING:
            with self._lock:
                self._forget_pending_locked(task.id)
        if kind == "record":
            with self._lock:  # stored by _persist: the history has it from now on
                self._tasks.pop(task.id, None)
        if self._hub is not None:  # after the bookkeeping, which a hub failure must not stop
            self._hub.publish(f"task/{task.id}", kind, data)

    def get(self, task_id: str) -> Invocation:
        """The task with this id, or NotFoundError (unknown, or evicted from history)."""
        with self._lock:
            task = self._tasks.get(task_id)
        if task is not None:
            return task
        stored = self._history.get(task_id)
        if stored is None or stored.record["status"] not in _FINISHED_VALUES:
            raise NotFoundError(f"no invocation with id {task_id!r}")
        return FinishedInvocation(stored)

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

        Stored rows come from the history; an unfinished one is read from its live task,
        whose status decides the status filter. Concurrent starts and finishes never
        break a listing.
        """
        self._history.evict()
        with self._lock:  # before the history is read: a task it lacks is still here
            live = [
                task
                for task in self._tasks.values()
                if (thing is None or task.thing == thing)
                and (action is None or task.action == action)
                and (before is None or task.seq < before)
            ]
        live.sort(key=lambda task: task.seq, reverse=True)
        stored = self._history.newest_first(
            thing=thing, action=action, statuses=statuses, before=before, batch=limit + 1
        )
        listed: list[ListedRecord] = []
        last_seq: int | None = None
        # Both newest first; a task that finished meanwhile is in both (the stored row,
        # first on a tie, is the one kept).
        merged: Iterator[tuple[int, ListedRecord | TaskThread]] = heapq.merge(
            stored, ((task.seq, task) for task in live), key=lambda pair: pair[0], reverse=True
        )
        for seq, found in merged:
            if seq == last_seq:
                continue
            if isinstance(found, TaskThread):
                record = found.snapshot()
                if statuses and TaskStatus(record["status"]) not in statuses:
                    continue
                item = ListedRecord.of(record, json_text(record))
            else:
                item = found
            if len(listed) == limit:
                return Page(listed, next_cursor=last_seq)
            listed.append(item)
            last_seq = seq
        return Page(listed, next_cursor=None)

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
        self.remote.cancel(task_id)  # a remote job's cancel method, if it is one
        return task, task.wait(wait)

    def cancel_all(self, wait: float) -> list[TaskThread]:
        """Refuse new tasks and cancel every unfinished one, giving them `wait` s from now
        to end (the deadline `shutdown` keeps); returns at once, starting no thread.

        Remote jobs are not cancelled: checking stops (checks running now may end), and
        they stay stored to resume at the next start. The deadline is set by the first
        call of either: calling again (a signal handler, then the server's close) never
        gives the tasks longer in total. Returns the tasks cancelled.
        """
        with self._lock:
            if self._deadline is None:
                self._deadline = time.monotonic() + wait
            self._closed = True
            unfinished = list(self._tasks.values())
        unfinished = [task for task in unfinished if not self.remote.holds(task.id)]
        for task in unfinished:
            task.cancel()
        self.remote.stop()
        return unfinished

    def shutdown(self, wait: float) -> list[TaskThread]:
        """`cancel_all(wait)`, then wait for the tasks (and running checks of remote
        jobs) until its deadline.

        Returns the tasks still running afterwards (they ignored cancellation).
        """
        unfinished = self.cancel_all(wait)
        deadline = self._deadline
        assert deadline is not None
        for task in unfinished:
            left = max(0.0, deadline - time.monotonic())
            task.join(left)  # its thread is done when it finishes or hands off a remote job
        self.remote.wait_idle(max(0.0, deadline - time.monotonic()))
        return [task for task in unfinished if not (task.finished or self.remote.holds(task.id))]

    def close_executors(self) -> None:
        """Let go of the executors' connections (after `shutdown`)."""
        for executor in self.executors.values():
            executor.close()

    def close(self) -> None:
        """Close the history (after `shutdown`); temporary blob and program folders are
        removed."""
        self.remote.close()
        self._history.close()
        self._blobs.close()
        self._folders.close()
