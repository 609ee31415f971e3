"""Invocations handed back instead of started again: by Idempotency-Key, `dedupe` and
`cache_for`.

`InvocationReuse.invoke` is what a POST calls. It starts an invocation through the
`TaskRunner`, unless the request may have an existing one:

- the same `Idempotency-Key` (of the same holder) was sent before with the same action
  and input: that invocation, whatever its state (another action or input is refused);
- the action is declared `dedupe=True` and an invocation of it with the same input is
  pending or running (and not being cancelled): that one;
- the action is declared `cache_for=SECONDS` and one with the same input completed less
  than that long ago: that one, without running again.

Inputs are compared by the SHA-256 of their canonical JSON (sorted keys) after
validation, so `{}` and `{"b": 0}` are the same input when `b` defaults to 0. Completed
invocations are found in memory, indexed by Thing, action and input; the index is
rebuilt from the history when the server starts, so a cached result survives a restart.
"""

from __future__ import annotations

import enum
import hashlib
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from labthings.core.errors import NotFoundError, ServerBusyError
from labthings.core.tasks.finished import Invocation
from labthings.core.tasks.idempotency import (
    HEADER,
    IdempotencyKeyBusy,
    IdempotencyKeys,
    KeyedRequest,
)
from labthings.core.tasks.keyedlocks import KeyedLocks
from labthings.core.tasks.record import TaskStatus
from labthings.core.tasks.runner import TaskRunner
from labthings.core.tasks.thread import TaskThread
from labthings.core.things.actions import ActionAffordance
from labthings.core.things.registry import ThingEntry, ThingRegistry

__all__ = ["InvocationReuse", "Invoked", "Reuse", "input_digest", "reuse_note"]

LOCK_WAIT = 5.0
"""Seconds a request waits for another one with the same key or input to be started
(which takes milliseconds) before it is refused."""

_FINAL_WAIT = 5.0
"""Seconds to wait for a task whose final record is stored to show it (microseconds)."""

_Key = tuple[str, str, str]
"""Thing, action and input digest."""


class Reuse(str, enum.Enum):
    """Why a POST was handed an existing invocation."""

    IDEMPOTENCY_KEY = "idempotency-key"
    DEDUPE = "dedupe"
    CACHE = "cache"


@dataclass(frozen=True)
class Invoked:
    """What a POST gets: an invocation, and why it was reused (None: it is new)."""

    invocation: Invocation
    reused: Reuse | None = None


def input_digest(input_record: Mapping[str, Any]) -> str:
    """The SHA-256 (hex) of validated input as canonical JSON: sorted keys, no spaces."""
    text = json.dumps(input_record, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def reuse_note(affordance: ActionAffordance) -> str:
    """A sentence for an action's documents saying when its invocations are reused."""
    notes = []
    if affordance.dedupe:
        notes.append(
            "A request with the same input as a pending or running invocation gets that"
            " invocation (200) instead of starting another."
        )
    if affordance.cache_for:
        notes.append(
            "A request with the same input as an invocation that completed less than"
            f" {affordance.cache_for:g} s ago gets it back (200) without running again."
        )
    return " ".join(notes)


class _ReuseIndex:
    """Invocations that may be handed out, by Thing, action and input digest: unfinished
    ones of `dedupe` actions, and completed ones of `cache_for` actions until they expire.

    Thread-safe. Entries go when their invocation finishes (unfinished ones) or expires
    (completed ones); stragglers are swept once the maps double in size, so they stay
    about as large as what is live.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._unfinished: dict[_Key, TaskThread] = {}
        self._completed: dict[_Key, tuple[str, float]] = {}  # (id, expiry)
        self._sweep_unfinished_at = self._sweep_completed_at = 64

    def unfinished(self, key: _Key) -> TaskThread | None:
        """The pending or running invocation with this key that is not being cancelled."""
        with self._lock:
            task = self._unfinished.get(key)
        if task is None or task.finished or task.cancel_requested:
            return None
        return task

    def completed(self, key: _Key) -> str | None:
        """The id of the latest invocation with this key that completed within its lifetime."""
        with self._lock:
            found = self._completed.get(key)
        if found is None or found[1] <= self._clock():
            return None
        return found[0]

    def add_unfinished(self, key: _Key, task: TaskThread) -> None:
        with self._lock:
            self._unfinished[key] = task
            if len(self._unfinished) > self._sweep_unfinished_at:
                for old in [k for k, t in self._unfinished.items() if t.finished]:
                    del self._unfinished[old]
                self._sweep_unfinished_at = max(64, 2 * len(self._unfinished))

    def add_completed(self, key: _Key, task_id: str, expires: float) -> None:
        with self._lock:
            known = self._completed.get(key)
            if known is None or known[1] < expires:
                self._completed[key] = (task_id, expires)
            if len(self._completed) > self._sweep_completed_at:
                now = self._clock()
                for old in [k for k, (_, e) in self._completed.items() if e <= now]:
                    del self._completed[old]
                self._sweep_completed_at = max(64, 2 * len(self._completed))

    def finished(self, key: _Key, task_id: str) -> None:
        """The invocation `task_id` with this key has ended: it is no longer unfinished."""
        with self._lock:
            task = self._unfinished.get(key)
            if task is not None and task.id == task_id:
                del self._unfinished[key]

    def forget_completed(self, key: _Key, task_id: str) -> None:
        """The completed invocation `task_id` is no longer in the history."""
        with self._lock:
            found = self._completed.get(key)
            if found is not None and found[0] == task_id:
                del self._completed[key]


class InvocationReuse:
    """Starts invocations for POSTs, or hands back one the request may have (see the module).

    Made once per server, after every Thing is registered: it watches the runner for
    final records and rebuilds its index of cached results from the history.
    """

    def __init__(
        self,
        runner: TaskRunner,
        registry: ThingRegistry,
        keys: IdempotencyKeys,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._runner = runner
        self._keys = keys
        self._clock = clock
        self._index = _ReuseIndex(clock)
        self._key_locks: KeyedLocks[tuple[str, str]] = KeyedLocks()
        self._input_locks: KeyedLocks[_Key] = KeyedLocks()
        self._watched: dict[tuple[str, str], ActionAffordance] = {}
        for entry in registry:
            for name, affordance in type(entry.thing).actions().items():
                if affordance.dedupe or affordance.cache_for:
                    self._watched[entry.name, name] = affordance
        runner.on_finish(self._finished)
        self._rebuild()

    def invoke(
        self,
        entry: ThingEntry,
        affordance: ActionAffordance,
        body: Any,
        *,
        requested_by: str | None = None,
        key: str | None = None,
    ) -> Invoked:
        """Validate `body` for an action of `entry`, then start an invocation or hand back
        the one this request may have.

        `key` is the request's Idempotency-Key, which belongs to `requested_by` (the
        access token's name; None for everyone). Raises `ValidationError` for bad input,
        `IdempotencyKeyReused` for a key sent before with another action or input,
        `IdempotencyKeyBusy` if the first request with the key is still being started
        after `LOCK_WAIT`, and whatever `TaskRunner.start` raises.
        """
        if key is None and not (affordance.dedupe or affordance.cache_for):
            task = self._runner.invoke(entry, affordance, body, requested_by=requested_by)
            return Invoked(task)
        arguments = affordance.validate_input(body)
        record = affordance.dump_input(arguments)
        digest = input_digest(record)
        if key is None:
            return self._reuse_or_start(entry, affordance, arguments, record, digest, requested_by)
        request = KeyedRequest(entry.name, affordance.name, digest)
        holder = requested_by or ""

        def busy() -> Exception:
            return IdempotencyKeyBusy(
                f"the first request with this {HEADER} is still being started; try again"
            )

        with self._key_locks.hold((holder, key), LOCK_WAIT, busy):
            stored = self._keys.find(holder, key)
            if stored is not None:
                stored.check(request)
                found = self._get(stored.invocation)
                if found is not None:  # else it has left the history: as if the key had expired
                    return Invoked(found, Reuse.IDEMPOTENCY_KEY)
            invoked = self._reuse_or_start(
                entry, affordance, arguments, record, digest, requested_by
            )
            self._keys.remember(holder, key, request, invoked.invocation.id)
        return invoked

    def _reuse_or_start(
        self,
        entry: ThingEntry,
        affordance: ActionAffordance,
        arguments: dict[str, Any],
        record: dict[str, Any],
        digest: str,
        requested_by: str | None,
    ) -> Invoked:
        """A cached or running invocation with this input if the action allows, else a new one
        (`record` is the input's JSON form, `digest` its digest)."""

        def start() -> TaskThread:
            return self._runner.start(
                entry, affordance, arguments, requested_by=requested_by, input_record=record
            )

        if not (affordance.dedupe or affordance.cache_for):
            return Invoked(start())
        key = (entry.name, affordance.name, digest)

        def busy() -> Exception:
            return ServerBusyError("another request with the same input is being started")

        with self._input_locks.hold(key, LOCK_WAIT, busy):
            if affordance.cache_for:
                cached = self._cached(key)
                if cached is not None:
                    return Invoked(cached, Reuse.CACHE)
            if affordance.dedupe:
                running = self._index.unfinished(key)
                if running is not None:
                    return Invoked(running, Reuse.DEDUPE)
            task = start()
            if affordance.dedupe:
                self._index.add_unfinished(key, task)
        return Invoked(task)

    def _cached(self, key: _Key) -> Invocation | None:
        """The completed invocation with this key, if it is within its lifetime and still
        in the history."""
        task_id = self._index.completed(key)
        if task_id is None:
            return None
        found = self._get(task_id)
        if found is None:
            self._index.forget_completed(key, task_id)
            return None
        # Indexed as its final record is stored, it may be about to show it: a moment.
        found.wait(_FINAL_WAIT)
        return found

    def _get(self, task_id: str) -> Invocation | None:
        try:
            return self._runner.get(task_id)
        except NotFoundError:
            return None

    def _finished(self, record: dict[str, Any]) -> None:
        """A final record was stored: index it if it is a result that may be reused."""
        affordance = self._watched.get((record["thing"], record["action"]))
        if affordance is None:
            return
        key = (record["thing"], record["action"], input_digest(record["input"]))
        self._index.finished(key, record["id"])
        if affordance.cache_for and record["status"] == TaskStatus.COMPLETED.value:
            completed = datetime.fromisoformat(record["timeCompleted"]).timestamp()
            self._index.add_completed(key, record["id"], completed + affordance.cache_for)

    def _rebuild(self) -> None:
        """Index the results of `cache_for` actions that completed within their lifetime."""
        now = self._clock()
        for (thing, action), affordance in self._watched.items():
            if not affordance.cache_for:
                continue
            for found in self._runner.completed_since(thing, action, now - affordance.cache_for):
                key = (thing, action, input_digest(found.input))
                self._index.add_completed(key, found.id, found.completed_at + affordance.cache_for)
