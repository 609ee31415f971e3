"""The invocation log: an invocation's start and end are lines here before the database.

Writing the history's database where a request waits costs a commit: several WAL pages,
each in two `pwrite` calls, with Python's GIL given up around them, which on a busy
server is a thread switch each time. Instead, an invocation's first record is a line
here before it runs, and its final record a line here before anyone is told it ended;
the history copies final records into the database in batches, on a thread of its own.

The file is memory-mapped (`MAP_SHARED`) and its space allocated in advance, so a line
is appended by copying it into the mapping: no system call, and the GIL is kept. The
kernel holds the copied bytes from then on, so, like a commit with SQLite's
`synchronous=NORMAL`, a line survives the process being killed without an fsync; a power
cut may lose the last moments. The space past the last line is zeros.

A line is `<seq>\t<entry>`, and the last line of a seq says where it stands: its first
record's JSON (started), `+<finished at> <version> <extra bytes> <JSON>` (its final
record), or `-` (retired: it never ran, or its row has been evicted from the database).
On opening, the history reads the lines: a final record not in the database is copied
there, and an invocation started and not ended was pending or running when the server
died.

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
from typing import BinaryIO, NamedTuple

__all__ = ["COMPACT_BYTES", "Final", "InvocationLog", "final_of", "parse"]

COMPACT_BYTES = 1 << 18
"""The log is never rewritten while its lines hold less than this."""

_RETIRED = "-"
_FINAL = "+"

_logger = logging.getLogger(__name__)


class Final(NamedTuple):
    """A final record as its line holds it."""

    finished_at: float
    version: int
    extra_bytes: int
    text: str


def final_of(entry: str) -> Final | None:
    """The final record an entry of `parse` holds, or None for a first record."""
    if not entry.startswith(_FINAL):
        return None
    finished_at, version, extra_bytes, text = entry[1:].split(" ", 3)
    return Final(float(finished_at), int(version), int(extra_bytes), text)


def parse(data: bytes, source: object = "the invocation log") -> dict[int, str]:
    """The last entry of every seq not retired, from the log's bytes (up to the first
    zero byte). A line cut short (the last one, written as the process died) or
    unreadable is skipped."""
    entries: dict[int, str] = {}
    used = data.find(b"\0")
    lines = data[: len(data) if used < 0 else used].split(b"\n")
    for number, raw in enumerate(lines[:-1], 1):  # the last piece is what follows "\n"
        seq_text, tab, entry = raw.decode("utf-8", "replace").partition("\t")
        if not (tab and seq_text.isdigit()):
            _logger.warning("%s line %d is unreadable: skipped", source, number)
            continue
        if entry == _RETIRED:
            entries.pop(int(seq_text), None)
        else:
            entries[int(seq_text)] = entry
    return entries


class InvocationLog:
    """An append-only file of invocations' first and final records, by `seq`."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._file: BinaryIO = path.open("a+b")
        self._map: mmap.mmap | None = None
        self._end = 0
        self._open_map(min_size=COMPACT_BYTES)

    def read(self) -> dict[int, str]:
        """The last entry of every seq not retired (see `parse` and `final_of`)."""
        return parse(self._mapping()[: self._end], self._path)

    def started(self, seq: int, text: str) -> None:
        """Append the first record (JSON `text`, one line) of invocation `seq`. Raises
        OSError if the file cannot grow (a full disk)."""
        self._append(f"{seq}\t{text}\n".encode())

    def finished(self, seq: int, final: Final) -> str:
        """Append the final record of invocation `seq`; the entry written (for `rewrite`)."""
        entry = f"{_FINAL}{final.finished_at!r} {final.version} {final.extra_bytes} {final.text}"
        self._append(f"{seq}\t{entry}\n".encode())
        return entry

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
        """Replace the file with the lines of `entries` (seq: entry) only."""
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
        end = self._end + len(data)
        if end > len(self._mapping()):
            _allocate(self._file, 2 * end)  # if the disk is full, the mapping stays as is
            self._close_map()
            self._open_map(min_size=2 * end)
        self._mapping()[self._end : end] = data
        self._end = end

    def _mapping(self) -> mmap.mmap:
        if self._map is None:
            raise ValueError(f"{self._path} is closed")
        return self._map

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
