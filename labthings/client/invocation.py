"""A handle on one action invocation: its state, waiting for it, cancelling it.

The handle follows the invocation's event stream (the record's `monitor` link), so
progress arrives as the server sends it; a server without one is long-polled (`GET` of
the record with `Prefer: wait=N` and `If-None-Match`), and never asked in a busy loop.
A stream that breaks (the server restarting, say) is sought again with back-off within
the connection's `Reconnect` patience; since a task stream starts with the whole record,
the handle then carries on from the record as it stands. If the server no longer knows
the invocation, `InvocationGone` says so. `interrupt()`, from another thread, ends a wait
or an iteration that follows it (`labthings.client.Group` stops its followers so).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from labthings.client.connection import (
    Connection,
    decode_body,
    describe_problem,
    is_event_stream,
)
from labthings.client.errors import (
    AccessDenied,
    InvocationCancelled,
    InvocationFailed,
    InvocationGone,
    NotFound,
    RequestFailed,
    ServerUnreachable,
    WaitTimeout,
)
from labthings.client.sse import Message, Parser, StreamLost, abort, read_messages

__all__ = ["FINISHED", "Invocation", "Update"]

FINISHED = frozenset({"completed", "error", "cancelled"})
_POLL_WAIT = 30
"""The longest long-poll asked for (seconds); servers cap it anyway."""
_LOG_CONTEXT = ("id", "thing", "action")


@dataclass(frozen=True)
class Update:
    """An invocation's state at one moment, as iterating over an Invocation yields it."""

    status: str
    progress: int | float | None
    message: str | None
    estimated_remaining: float | None
    record: dict[str, Any]

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


class Invocation:
    """One invocation of an action. Its attributes are its last known state, brought up
    to date by `wait()`, iteration, `refresh()` and `cancel()` (never by reading them).

    `wait(timeout=None)` (or `.output`) returns the output once it has completed and
    raises `InvocationFailed`, `InvocationCancelled` or `InvocationGone` otherwise, or
    `WaitTimeout` if it is still running at the timeout. Iterating yields an `Update`
    now and after each change until it has finished. Not for use by several threads,
    but for `interrupt()`.
    """

    def __init__(
        self,
        connection: Connection,
        record: Mapping[str, Any],
        *,
        url: str | None,
        cancel_url: str | None = None,
        cancel_method: str = "DELETE",
    ) -> None:
        self._connection = connection
        self._record: dict[str, Any] = dict(record)
        self._url = url
        self._cancel_url = cancel_url or url
        self._cancel_method = cancel_method
        self._output_fetched = False
        self._interrupted = threading.Event()
        self._following: requests.Response | None = None

    def __repr__(self) -> str:
        progress = "" if self.progress is None else f" {self.progress:g}%"
        return f"<Invocation {self.action} {self.id} {self.status}{progress}>"

    # -- the last known state ---------------------------------------------------------

    @property
    def record(self) -> dict[str, Any]:
        """A copy of the last known invocation record."""
        return dict(self._record)

    @property
    def id(self) -> str:
        return str(self._record.get("id", ""))

    @property
    def action(self) -> str:
        return str(self._record.get("action", ""))

    @property
    def url(self) -> str | None:
        """Where the record is read (None for an action answered at once, without one)."""
        return self._url

    @property
    def status(self) -> str:
        """`pending`, `running`, `completed`, `error` or `cancelled`."""
        return str(self._record.get("status", "pending"))

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def progress(self) -> int | float | None:
        """Percent done (0-100), or None if the action does not say."""
        return self._record.get("progress")

    @property
    def message(self) -> str | None:
        return self._record.get("message")

    @property
    def estimated_remaining(self) -> float | None:
        """Seconds left as the server estimates them (`estimatedRemaining`), or None."""
        return self._record.get("estimatedRemaining")

    @property
    def log(self) -> list[dict[str, Any]]:
        return list(self._record.get("log") or [])

    @property
    def error(self) -> dict[str, Any] | None:
        """The problem the invocation ended with, if it ended in error."""
        return self._record.get("error")

    @property
    def output(self) -> Any:
        """The output, once completed: `wait()` without a timeout."""
        return self.wait()

    # -- talking to the server ---------------------------------------------------------

    def wait(self, timeout: float | None = None) -> Any:
        """Wait until it has finished (at most `timeout` seconds) and return its output.

        A large output or a file the record links to (`rel: output`) is fetched: JSON
        decoded, anything else as bytes.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        self._interrupted.clear()
        for _ in self._changes(deadline):
            pass
        return self._outcome()

    def updates(self, timeout: float | None = None) -> Iterator[Update]:
        """The state now, then after each change of status, progress, message, time left,
        data or output (a log line alone is none), until it has finished. The last
        update is the finished one; it does not raise for an error or a cancel."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self._interrupted.clear()
        yield self._update()
        for _ in self._changes(deadline):
            yield self._update()

    def __iter__(self) -> Iterator[Update]:
        return self.updates()

    def interrupt(self) -> None:
        """Make the wait or iteration following this invocation on another thread stop
        now: it raises `WaitTimeout` (the invocation goes on; a later wait follows it
        afresh). A long-poll under way (a server without event streams) ends when its
        answer comes. Safe to call from any thread, and when nothing follows it."""
        self._interrupted.set()
        response = self._following
        if response is not None:
            abort(response)

    def refresh(self) -> Invocation:
        """Read the record again now (one GET)."""
        if self._url is not None:
            self._record = self._get_record()
        return self

    def cancel(self) -> None:
        """Ask the server to stop it. It may take a moment to stop: `wait()` then raises
        `InvocationCancelled`. Cancelling a finished invocation changes nothing."""
        if self.finished or self._cancel_url is None:
            return
        try:
            response = self._connection.request(self._cancel_method, self._cancel_url, allow=(409,))
        except NotFound:
            raise self._gone() from None
        body = _body(response)
        if response.status_code == 409 or not _is_record(body):
            self.refresh()  # it ended before the cancel arrived, or the server said nothing
        else:
            self._record = body

    # -- following ---------------------------------------------------------------------

    def _changes(self, deadline: float | None) -> Iterator[None]:
        """Follow the invocation until it finishes, yielding after each change."""
        if self.finished or self._url is None:
            return
        monitor = _link(self._record, "monitor")
        if monitor is not None and not (yield from self._stream(monitor, deadline)):
            return
        yield from self._poll(deadline)

    def _stream(self, url: str, deadline: float | None) -> Generator[None, None, bool]:
        """Follow the event stream; returns True if it cannot be had and polling must do."""
        parser = Parser()
        delays: Iterator[float] | None = None
        while True:
            self._check_deadline(deadline)
            try:
                response = self._connection.open_stream(
                    url, self._read_timeout(deadline), parser.last_id
                )
            except ServerUnreachable as error:
                lost = str(error)
            except AccessDenied:
                raise
            except NotFound:
                self._record = self._get_record()  # InvocationGone if it is unknown too
                return True
            except RequestFailed:  # no stream to be had (too many open, say): poll
                return True
            else:
                if not is_event_stream(response):
                    response.close()
                    return True
                self._following = response
                if self._interrupted.is_set():  # interrupted while connecting
                    abort(response)
                try:
                    with response:
                        for message in read_messages(
                            response, parser, lambda: self._read_timeout(deadline)
                        ):
                            delays = None
                            if self._apply(message):
                                yield
                            if self.finished:
                                return False
                            self._check_deadline(deadline)
                    lost = "the server ended the stream"
                except StreamLost as error:
                    lost = str(error) or "the connection broke"
                finally:
                    self._following = None
            delays = delays or iter(self._connection.reconnect.delays())
            self._pause(next(delays, None), deadline, lost)

    def _poll(self, deadline: float | None) -> Iterator[None]:
        """Long-poll the record until it has finished."""
        etag: str | None = None
        delays: Iterator[float] | None = None
        quick = 0.2  # after an answer that did not wait, the pause before the next ask
        while not self.finished:
            self._check_deadline(deadline)
            left = _POLL_WAIT if deadline is None else deadline - time.monotonic()
            wait = max(1, min(_POLL_WAIT, math.ceil(left)))
            headers = {"Prefer": f"wait={wait}"}
            if etag:
                headers["If-None-Match"] = etag
            asked = time.monotonic()
            try:
                response = self._connection.request(
                    "GET",
                    str(self._url),
                    headers=headers,
                    timeout=wait + self._connection.timeout,
                    allow=(304,),
                )
            except ServerUnreachable as error:
                delays = delays or iter(self._connection.reconnect.delays())
                self._pause(next(delays, None), deadline, str(error))
                continue
            except NotFound:
                raise self._gone() from None
            delays = None
            body = _body(response)
            changed = response.status_code == 200 and _is_record(body) and body != self._record
            if changed:
                self._record = body
                etag = response.headers.get("ETag")
                yield
            elif time.monotonic() - asked < wait / 2:  # the server did not hold the request
                self._interrupted.wait(min(quick, max(0.0, _left(deadline, quick))))
                quick = min(quick * 2, 5.0)

    def _apply(self, message: Message) -> bool:
        """Take one stream message into the record; whether it changed anything besides
        the log (a new log line alone is no update)."""
        data = message.value()
        if not isinstance(data, dict):
            return False
        before = self._record
        if message.event == "record":
            self._record = data
        elif message.event == "update":
            self._record = {**before, **data}
        elif message.event == "log":
            entry = {key: value for key, value in data.items() if key not in _LOG_CONTEXT}
            self._record = {**before, "log": [*self.log, entry]}
        # else `missed`, or news this client does not know
        return _without_log(self._record) != _without_log(before)

    def _pause(self, delay: float | None, deadline: float | None, lost: str) -> None:
        """Sleep before seeking the server again, or give up if patience ran out."""
        self._check_deadline(None)
        if delay is None:
            patience = self._connection.reconnect.patience
            raise ServerUnreachable(
                f"lost touch with invocation {self.id} and could not regain it "
                f"within {patience:g} s: {lost}"
            )
        self._interrupted.wait(max(0.0, min(delay, _left(deadline, delay))))

    def _read_timeout(self, deadline: float | None) -> float:
        return max(0.001, _left(deadline, self._connection.idle_timeout))

    def _check_deadline(self, deadline: float | None) -> None:
        if self._interrupted.is_set():
            raise WaitTimeout(
                f"stopped following invocation {self.id} of {self.action!r}: it is still "
                f"{self.status} (it goes on: {self._url or 'no URL given'})"
            )
        if deadline is not None and time.monotonic() >= deadline:
            raise WaitTimeout(
                f"invocation {self.id} of {self.action!r} is still {self.status} "
                f"(it goes on: {self._url or 'no URL given'})"
            )

    def _get_record(self) -> dict[str, Any]:
        try:
            body = self._connection.json("GET", str(self._url))
        except NotFound:
            raise self._gone() from None
        return body if _is_record(body) else self._record

    def _gone(self) -> InvocationGone:
        return InvocationGone(
            f"the server no longer knows invocation {self.id} of {self.action!r} "
            "(restarted without its history?); its outcome is unknown",
            self._record,
        )

    # -- the outcome -------------------------------------------------------------------

    def _outcome(self) -> Any:
        status = self.status
        label = f"invocation {self.id} of {self.action!r}"
        if status == "error":
            problem = self.error or {"title": "The action failed"}
            raise InvocationFailed(
                f"{label} failed: {describe_problem(problem)}", self._record, problem
            )
        if status == "cancelled":
            raise InvocationCancelled(
                f"{label} was cancelled",
                self._record,
                {"title": "Cancelled", "detail": f"{label} was cancelled"},
            )
        link = _link(self._record, "output")
        if self._record.get("output") is None and link is not None and not self._output_fetched:
            self._record["output"] = self._connection.json("GET", link)
            self._output_fetched = True
        return self._record.get("output")

    def _update(self) -> Update:
        return Update(
            self.status, self.progress, self.message, self.estimated_remaining, self.record
        )


def _left(deadline: float | None, most: float) -> float:
    """Seconds to the deadline, at most `most`."""
    return most if deadline is None else min(most, deadline - time.monotonic())


def _without_log(record: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in record.items() if key != "log"}


def _link(record: Mapping[str, Any], rel: str) -> str | None:
    for link in record.get("links") or ():
        if isinstance(link, Mapping) and link.get("rel") == rel and link.get("href"):
            return str(link["href"])
    return None


def _body(response: requests.Response) -> Any:
    try:
        return decode_body(response)
    except ValueError:
        return None


def _is_record(body: Any) -> bool:
    return isinstance(body, dict) and "status" in body and "id" in body
