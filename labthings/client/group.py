"""Several invocations followed together: the `Group` that `Lab.start` returns.

Each started invocation is followed on a thread of its own (its event stream, as
`Invocation.updates` reads it), and every thread hands its updates to one bounded
channel, so iterating over the group yields `(which, Update)` in the order they came,
from all servers at once. A server that goes away, or a call that could not start, is
one member's error, never the others': its last update says so (status `error`, the
reason as message) and its `Outcome` carries the `ClientError`.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from labthings.client.connection import Closing
from labthings.client.errors import (
    ClientError,
    InvocationCancelled,
    InvocationFailed,
    WaitTimeout,
)
from labthings.client.invocation import Invocation, Update

__all__ = ["Group", "Outcome"]

_CHANNEL_SIZE = 256
"""Updates held for a reader that lags; past it, the followers wait for it."""
_JOIN_WAIT = 5.0
"""How long `close()` waits for each follower to end (they are daemon threads)."""


@dataclass(frozen=True)
class Outcome:
    """How one member of a group ended: `output` if it completed, else `error`.

    `error` is `InvocationFailed` or `InvocationCancelled` (the server said so),
    `ServerUnreachable` or `InvocationGone` (the client lost it: its outcome is unknown),
    the error that kept it from starting (`RequestFailed`, `ServerUnreachable`...), or
    `WaitTimeout` for one still running when a wait ended. `record` is its last record
    (for an error of the client's, with status `error` and that error's problem).
    """

    which: str
    output: Any = None
    error: ClientError | None = None
    record: dict[str, Any] = field(default_factory=dict)
    invocation: Invocation | None = None

    @property
    def ok(self) -> bool:
        """Whether it completed."""
        return self.error is None

    def result(self) -> Any:
        """The output, or raise the error."""
        if self.error is not None:
            raise self.error
        return self.output


class _Channel:
    """A bounded first-in first-out channel between threads that `close()` ends: a
    `put` waiting for room and a `get` waiting for an item then return at once."""

    def __init__(self, size: int) -> None:
        self._items: deque[tuple[str, Update | Outcome]] = deque()
        self._size = size
        self._changed = threading.Condition()
        self.closed = False

    def put(self, item: tuple[str, Update | Outcome]) -> bool:
        """Add `item` when there is room; False (nothing added) once closed."""
        with self._changed:
            self._changed.wait_for(lambda: self.closed or len(self._items) < self._size)
            if self.closed:
                return False
            self._items.append(item)
            self._changed.notify_all()
            return True

    def get(self, timeout: float | None) -> tuple[str, Update | Outcome] | None:
        """The oldest item, waiting at most `timeout` seconds; None if none came or closed."""
        with self._changed:
            self._changed.wait_for(lambda: self.closed or bool(self._items), timeout)
            if self.closed or not self._items:
                return None
            item = self._items.popleft()
            self._changed.notify_all()
            return item

    def close(self) -> None:
        with self._changed:
            self.closed = True
            self._changed.notify_all()


def _lost(which: str, error: ClientError, last: Update | None) -> tuple[Update, dict[str, Any]]:
    """The update that says a member was lost or never started, and its record."""
    record = dict(last.record) if last is not None else {}
    record.update(status="error", error=dict(error.problem))
    progress = last.progress if last is not None else None
    return Update("error", progress, str(error), None, record), record


class Group(Closing):
    """Invocations started together, possibly on several servers, each known by `which`
    (`server/thing.action`, with `#2`, `#3`... for repeats).

    Iterate over it (or `updates(timeout)`) for `(which, Update)` as they come from any
    of them, until all have finished; `wait(timeout, on_update)` returns each `Outcome`.
    `invocations` holds the handles of those that started; while the group follows
    them, use the group's methods rather than theirs. Not for use by several threads;
    `close()` (or leaving a `with` block) stops following, from any thread.
    """

    def __init__(self, members: Sequence[tuple[str, Invocation | ClientError]]) -> None:
        self.which = [which for which, _ in members]
        if len(set(self.which)) != len(self.which):
            raise ValueError(f"members of a group need distinct names, not {self.which}")
        self.invocations: dict[str, Invocation] = {
            which: started for which, started in members if isinstance(started, Invocation)
        }
        self._errors = {
            which: started for which, started in members if isinstance(started, ClientError)
        }
        self._channel = _Channel(_CHANNEL_SIZE)
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._outcomes: dict[str, Outcome] = {}

    def __repr__(self) -> str:
        return f"<Group of {len(self.which)}: {', '.join(self.which)}>"

    def __len__(self) -> int:
        return len(self.which)

    def __iter__(self) -> Iterator[tuple[str, Update]]:
        return self.updates()

    @property
    def finished(self) -> bool:
        """Whether every member has ended (as far as the updates read so far say)."""
        return len(self._outcomes) == len(self.which)

    def updates(self, timeout: float | None = None) -> Iterator[tuple[str, Update]]:
        """`(which, Update)`: each member's state now, then each change of any of them as
        it comes, until all have finished (or the group is closed). Raises `WaitTimeout`
        at `timeout` seconds with some still running; iterate again to carry on."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self._follow()
        while not self.finished and not self._channel.closed:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            item = self._channel.get(left)
            if item is None:
                if left == 0:  # what had come is read: the deadline stands
                    running = ", ".join(w for w in self.which if w not in self._outcomes)
                    raise WaitTimeout(f"still running after {timeout:g} s: {running}")
                continue
            which, news = item
            if isinstance(news, Outcome):
                self._outcomes[which] = news
            else:
                yield which, news

    def wait(
        self,
        timeout: float | None = None,
        on_update: Callable[[str, Update], object] | None = None,
    ) -> dict[str, Outcome]:
        """Wait until all have finished (at most `timeout` seconds), calling
        `on_update(which, update)` for each update on the way, and return each member's
        `Outcome`, in the group's order. Raises nothing for a member's failure."""
        try:
            for which, update in self.updates(timeout):
                if on_update is not None:
                    on_update(which, update)
        except WaitTimeout:
            pass
        return {which: self._outcome(which) for which in self.which}

    def cancel(self) -> None:
        """Ask each server to stop the members still running (`wait()` then reports them
        `InvocationCancelled`); one that cannot be asked keeps its own outcome."""
        for which, invocation in self.invocations.items():
            if which not in self._outcomes:
                try:
                    invocation.cancel()
                except ClientError:
                    pass  # its follower reports why it cannot be reached

    def close(self) -> None:
        """Stop following (the invocations go on); safe to call twice."""
        with self._lock:
            self._channel.close()
            for invocation in self.invocations.values():
                invocation.interrupt()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(_JOIN_WAIT)

    # -- following ---------------------------------------------------------------------

    def _outcome(self, which: str) -> Outcome:
        if which in self._outcomes:
            return self._outcomes[which]
        invocation = self.invocations.get(which)
        state = "still running" if invocation is None else f"still {invocation.status}"
        return Outcome(
            which,
            error=WaitTimeout(f"{which} is {state} (it goes on)"),
            record={} if invocation is None else invocation.record,
            invocation=invocation,
        )

    def _follow(self) -> None:
        """Start a follower per member, once."""
        with self._lock:
            if self._threads or self._channel.closed:
                return
            for which in self.which:
                thread = threading.Thread(
                    target=self._run, args=(which,), name=f"labthings-follow-{which}", daemon=True
                )
                self._threads.append(thread)
            for thread in self._threads:
                thread.start()

    def _run(self, which: str) -> None:
        """One follower: the member's updates into the channel, then its outcome."""
        invocation = self.invocations.get(which)
        if invocation is None:
            error = self._errors[which]
            update, record = _lost(which, error, None)
            if self._channel.put((which, update)):
                self._channel.put((which, Outcome(which, error=error, record=record)))
            return
        with self._lock:  # `close()` then interrupts this follow, not one before it
            if self._channel.closed:
                return
            updates = invocation.updates()
            last = next(updates)
        self._channel.put((which, last))
        try:
            for last in updates:
                if not self._channel.put((which, last)):
                    return
            output = invocation.wait()
        except (InvocationFailed, InvocationCancelled) as error:
            outcome = Outcome(which, error=error, record=invocation.record, invocation=invocation)
        except WaitTimeout:
            return  # interrupted: the group was closed
        except ClientError as error:
            update, record = _lost(which, error, last)
            self._channel.put((which, update))
            outcome = Outcome(which, error=error, record=record, invocation=invocation)
        else:
            outcome = Outcome(which, output, record=invocation.record, invocation=invocation)
        self._channel.put((which, outcome))
