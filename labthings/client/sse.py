"""Reading Server-Sent Events (the WHATWG HTML event-stream format) from a response.

`Parser` turns bytes into `Message`s as they arrive, whatever the line endings
(`\\r\\n`, `\\n` or `\\r`, even split between chunks). `read_messages` reads a streaming
requests response with a bounded wait for each read, so a silent or dead connection
ends in `StreamLost` instead of a hang.
"""

from __future__ import annotations

import codecs
import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import requests

__all__ = ["Message", "Parser", "StreamLost", "abort", "read_messages"]


@dataclass(frozen=True)
class Message:
    """One dispatched event: its name (`message` unless named), data text and last id."""

    event: str
    data: str
    id: str | None

    def value(self) -> Any:
        """The data decoded as JSON, or the text itself if it is not JSON."""
        try:
            return json.loads(self.data)
        except ValueError:
            return self.data


class StreamLost(Exception):
    """The connection of a stream broke, or stayed silent longer than allowed."""


class Parser:
    """An incremental event-stream parser; `last_id` survives messages, as the spec says."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._text = ""
        self._started = False
        self._skip_lf = False
        self._event = ""
        self._data: list[str] = []
        self.last_id: str | None = None
        self.retry: int | None = None
        """The reconnection time the server asked for (`retry:`, milliseconds)."""

    def feed(self, chunk: bytes) -> list[Message]:
        """The messages completed by `chunk`."""
        self._text += self._decoder.decode(chunk)
        if not self._started and self._text:
            self._started = True
            self._text = self._text.removeprefix("\ufeff")
        messages: list[Message] = []
        while True:
            line = self._next_line()
            if line is None:
                return messages
            message = self._line(line)
            if message is not None:
                messages.append(message)

    def _next_line(self) -> str | None:
        if self._skip_lf and self._text:
            # A `\r` ended the last line at once; its `\n`, if any, came in this chunk.
            self._text = self._text.removeprefix("\n")
            self._skip_lf = False
        for index, char in enumerate(self._text):
            if char == "\n" or char == "\r":
                line, rest = self._text[:index], self._text[index + 1 :]
                if char == "\r":
                    if rest.startswith("\n"):
                        rest = rest[1:]
                    elif not rest:
                        self._skip_lf = True
                self._text = rest
                return line
        return None

    def _line(self, line: str) -> Message | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self.last_id = value
        elif name == "retry" and value.isdigit():
            self.retry = int(value)
        return None

    def _dispatch(self) -> Message | None:
        event, data = self._event or "message", self._data
        self._event, self._data = "", []
        if not data:
            return None
        return Message(event, "\n".join(data), self.last_id)


def read_messages(
    response: requests.Response, parser: Parser, read_timeout: Callable[[], float]
) -> Iterator[Message]:
    """The messages of a streaming response until it ends; each read waits at most
    `read_timeout()` seconds (asked again before every read). Raises `StreamLost` when
    the connection breaks or a read times out."""
    sock = _socket(response)
    chunks = response.iter_content(chunk_size=4096)
    while True:
        if sock is not None:
            sock.settimeout(max(read_timeout(), 0.001))
        try:
            chunk = next(chunks)
        except StopIteration:
            return
        except (requests.exceptions.RequestException, OSError, ValueError) as error:
            raise StreamLost(str(error)) from None
        yield from parser.feed(chunk)


def _socket(response: requests.Response) -> socket.socket | None:
    """The socket under a streaming response, to bound each read (None if hidden)."""
    connection = getattr(response.raw, "connection", None)
    sock = getattr(connection, "sock", None)
    return sock if isinstance(sock, socket.socket) else None


def abort(response: requests.Response) -> None:
    """Break a stream that another thread may be reading: its read returns at once."""
    sock = _socket(response)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    response.close()
