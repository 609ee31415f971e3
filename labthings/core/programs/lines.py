"""A program's output and error lines, read by two threads into one bounded queue.

Reading both pipes all the time means a program never blocks on a full pipe, whatever
it writes to which. The queue is bounded, so a program that writes faster than the
task can log waits for it (back-pressure through its pipe) instead of filling memory.
Lines of one stream keep their order; lines of the two streams are interleaved as they
were read, which is as close to the program's own order as two pipes allow.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from enum import Enum
from typing import IO

__all__ = ["LINE_LIMIT", "Line", "LineReader", "Stream"]

LINE_LIMIT = 10_000
"""Characters per line: a longer line arrives as several."""
_QUEUE = 1000
_PUT_RETRY_S = 0.1


class Stream(Enum):
    """Which of the program's outputs a line came from."""

    STDOUT = "stdout"
    STDERR = "stderr"


Line = tuple[Stream, str]
"""A line (without its line ending) and where it came from."""


class LineReader:
    """Reads the lines of a program's stdout and stderr as they come."""

    def __init__(self, stdout: IO[str], stderr: IO[str], name: str) -> None:
        self._queue: queue.Queue[Line | Stream] = queue.Queue(_QUEUE)  # a Stream: its end
        self._discard = threading.Event()
        self._open = {Stream.STDOUT, Stream.STDERR}
        self._threads = [
            threading.Thread(
                target=self._read, args=(pipe, stream), name=f"{name}-{stream.value}", daemon=True
            )
            for pipe, stream in ((stdout, Stream.STDOUT), (stderr, Stream.STDERR))
        ]
        for thread in self._threads:
            thread.start()

    @property
    def ended(self) -> bool:
        """True once both pipes have ended and every line has been taken."""
        return not self._open and self._queue.empty()

    def lines(self, timeout: float) -> Iterator[Line]:
        """The lines read so far, waiting up to `timeout` for the first one."""
        wait: float | None = timeout
        while self._open:
            try:
                item = self._queue.get(timeout=wait) if wait else self._queue.get_nowait()
            except queue.Empty:
                return
            wait = None
            if isinstance(item, Stream):
                self._open.discard(item)
            else:
                yield item

    def discard(self) -> None:
        """Stop queuing lines (the task no longer takes them); the pipes are still read
        to their end, so the program never blocks on a full one."""
        self._discard.set()

    def join(self, timeout: float) -> bool:
        """Wait up to `timeout` for both pipes to end; True if they have."""
        for thread in self._threads:
            thread.join(timeout)
        return not any(thread.is_alive() for thread in self._threads)

    def _read(self, pipe: IO[str], stream: Stream) -> None:
        try:
            while line := pipe.readline(LINE_LIMIT):
                self._put((stream, line.rstrip("\r\n")))
        except (OSError, ValueError):
            pass  # the pipe was closed under us: its end
        finally:
            self._put(stream)

    def _put(self, item: Line | Stream) -> None:
        while not self._discard.is_set():
            try:
                self._queue.put(item, timeout=_PUT_RETRY_S)
                return
            except queue.Full:
                continue
        if isinstance(item, Stream):
            self._open.discard(item)  # nobody waits for lines now, but `ended` still tells
