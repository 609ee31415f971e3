"""The started log: every invocation is written here before it runs.

The history's database gets an invocation's row once, when it finishes, so that an
instant action costs one commit and not two: a commit writes several WAL pages, and
Python's `sqlite3` gives the GIL up around it, which on a busy server is a thread switch
each time. What must survive a crash before the row is written is only that the
invocation was started, and its first record: a line of this file.

The file is memory-mapped (`MAP_SHARED`) and its space allocated in advance, so a line
is appended by copying it into the mapping: no system call, and the GIL is kept. The
kernel holds the copied bytes from then on, so, like a commit with SQLite's
`synchronous=NORMAL`, a line survives the process being killed without an fsync; a power
cut may lose the last moments. The space past the last line is zeros.

Lines are `<seq>\\t<record JSON>` for an invocation started, and `<seq>\\t-` for one that
will never need its line again (it never ran, or its finished row has been evicted from
the database). On opening, the history reads the lines: an invocation started, not
retired, and without a finished row was pending or running when the server died.

The history rewrites the file with only the live lines (`rewrite`) once it holds more
than `COMPACT_BYTES` and four times what they hold; a rewrite replaces the file
atomically. Not thread-safe: the history calls it under a lock of its own.
"""

from __future__ import annotations

import logging
import mmap
import os
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

__all__ = ["COMPACT_BYTES", "StartedLog"]

COMPACT_BYTES = 1 << 20
"""The log is never rewritten while its lines hold less than this."""

_RETIRED = "-"

_logger = logging.getLogger(__name__)


class StartedLog:
    """An append-only file of started invocations' first records, by `seq`."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._file: BinaryIO = path.open("a+b")
        self._map: mmap.mmap | None = None
        self._end = 0
        self._open_map(min_size=COMPACT_BYTES)

    def read(self) -> dict[int, str]:
        """The record JSON of every invocation started and not retired, by seq. A line
        cut short (the last one, written as the process died) or unreadable is skipped."""
        entries: dict[int, str] = {}
        assert self._map is not None
        lines = self._map[: self._end].split(b"\n")
        for number, raw in enumerate(lines[:-1], 1):  # the last piece is what follows "\n"
            seq_text, tab, text = raw.decode("utf-8", "replace").partition("\t")
            if not (tab and seq_text.isdigit()):
                _logger.warning("%s line %d is unreadable: skipped", self._path, number)
                continue
            if text == _RETIRED:
                entries.pop(int(seq_text), None)
            else:
                entries[int(seq_text)] = text
        return entries

    def started(self, seq: int, text: str) -> None:
        """Append the first record (JSON `text`, one line) of invocation `seq`. Raises
        OSError if the file cannot grow (a full disk)."""
        self._append(f"{seq}\t{text}\n".encode())

    def retire(self, seqs: Iterable[int]) -> None:
        """Note that these invocations' lines are no longer needed."""
        lines = "".join(f"{seq}\t{_RETIRED}\n" for seq in seqs)
        if lines:
            self._append(lines.encode())

    def wants_rewrite(self, live_bytes: int) -> bool:
        """Whether the lines have grown enough past the live ones' `live_bytes` to be
        rewritten."""
        return self._end > max(COMPACT_BYTES, 4 * live_bytes)

    def rewrite(self, entries: dict[int, str]) -> None:
        """Replace the file with the lines of `entries` (seq: record JSON) only."""
        content = "".join(f"{seq}\t{text}\n" for seq, text in entries.items()).encode()
        fresh = self._path.with_name(self._path.name + ".new")
        with fresh.open("w+b") as out:
            out.write(content)
            _allocate(out, max(COMPACT_BYTES, 2 * len(content)))
        self._close_map()  # Windows cannot replace a file that is mapped or open
        self._file.close()
        os.replace(fresh, self._path)
        self._file = self._path.open("a+b")
        self._open_map(min_size=COMPACT_BYTES)

    @property
    def closed(self) -> bool:
        """Whether `close` was called."""
        return self._file.closed

    def close(self) -> None:
        """Close the file (idempotent)."""
        self._close_map()
        self._file.close()

    def _append(self, data: bytes) -> None:
        assert self._map is not None
        end = self._end + len(data)
        if end > len(self._map):
            _allocate(self._file, 2 * end)  # if the disk is full, the mapping stays as is
            self._close_map()
            self._open_map(min_size=2 * end)
            assert self._map is not None
        self._map[self._end : end] = data
        self._end = end

    def _open_map(self, min_size: int) -> None:
        """Map the file, at least `min_size` bytes of it allocated, and find its end: the
        first zero byte, less a line cut short, whose bytes are zeroed."""
        _allocate(self._file, min_size)
        self._map = mmap.mmap(self._file.fileno(), 0)
        used = self._map.find(b"\0")
        used = len(self._map) if used < 0 else used
        self._end = self._map.rfind(b"\n", 0, used) + 1
        if self._end < used:
            self._map[self._end : used] = bytes(used - self._end)

    def _close_map(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None


def _allocate(file: BinaryIO, size: int) -> None:
    """Make `file` at least `size` bytes long, its blocks allocated now, so that writing
    into a mapping of it never finds the disk full. OSError if the disk is full now."""
    file.flush()
    current = os.fstat(file.fileno()).st_size
    if current >= size:
        return
    if hasattr(os, "posix_fallocate"):
        os.posix_fallocate(file.fileno(), current, size - current)
    else:  # macOS, Windows: zeros, written
        file.seek(current)
        file.write(bytes(size - current))
        file.flush()
