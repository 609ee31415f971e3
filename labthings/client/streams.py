"""Property changes and Thing events as iterators, or as callbacks on a thread.

An `EventStream` reads one Server-Sent Events form. If the connection breaks or falls
silent, it connects again with back-off (within the connection's `Reconnect` patience)
and sends `Last-Event-ID`, so a server that still has the missed events replays them; a
server that restarted sends the value as it is now. `missed` notices are skipped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import requests

from labthings.client.connection import Closing, Connection, is_event_stream
from labthings.client.errors import ClientError, RequestFailed, ServerUnreachable
from labthings.client.sse import Message, Parser, StreamLost, abort, read_messages

__all__ = ["EventStream"]

_NOTICES = frozenset({"missed"})


class EventStream(Closing):
    """The values of one event stream: iterate over it, or `start(callback)` to have each
    handed to a function on a thread of its own. `close()` (or leaving a `with` block)
    ends it, from any thread.
    """

    def __init__(self, connection: Connection, url: str, name: str) -> None:
        self.url = url
        self.name = name
        self._connection = connection
        self._closed = threading.Event()
        self._response: requests.Response | None = None
        self._values: Iterator[Any] | None = None
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        """What ended a started stream other than `close()`, if anything."""

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        if self._values is None:
            self._values = self._follow()
        return next(self._values)

    def close(self) -> None:
        """End the stream; an iteration or a callback thread stops at once."""
        self._closed.set()
        response = self._response
        if response is not None:
            abort(response)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(5)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def start(
        self,
        callback: Callable[[Any], object],
        on_error: Callable[[BaseException], object] | None = None,
    ) -> EventStream:
        """Call `callback(value)` for each value on a daemon thread until closed. An
        error that ends the stream (the server gone for longer than the patience, say)
        goes to `on_error` and is kept in `error`."""

        def run() -> None:
            try:
                for value in self:
                    callback(value)
            except ClientError as error:
                self.error = error
                if on_error is not None and not self.closed:
                    on_error(error)

        self._thread = threading.Thread(target=run, name=f"labthings-{self.name}", daemon=True)
        self._thread.start()
        return self

    def _follow(self) -> Iterator[Any]:
        parser = Parser()
        delays: Iterator[float] | None = None
        while not self.closed:
            try:
                response = self._connection.open_stream(
                    self.url, self._connection.idle_timeout, parser.last_id
                )
            except ServerUnreachable as error:
                lost: BaseException = error
            else:
                if not is_event_stream(response):
                    response.close()
                    raise RequestFailed(f"{self.url} is not an event stream", status=None)
                self._response = response
                if self.closed:  # closed while connecting: close() could not abort it
                    abort(response)
                    return
                lost = StreamLost("the server ended the stream")
                try:
                    with response:
                        for message in read_messages(
                            response, parser, lambda: self._connection.idle_timeout
                        ):
                            delays = None
                            if _is_value(message):
                                yield message.value()
                except StreamLost as error:
                    lost = error
                finally:
                    self._response = None
            if self.closed:
                return
            delays = delays or iter(self._connection.reconnect.delays())
            delay = next(delays, None)
            if delay is None:
                raise ServerUnreachable(
                    f"lost the stream {self.url} and could not regain it within "
                    f"{self._connection.reconnect.patience:g} s: {lost}"
                )
            self._closed.wait(delay)


def _is_value(message: Message) -> bool:
    return message.event not in _NOTICES
