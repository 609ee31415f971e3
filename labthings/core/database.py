"""The one way labthings opens its SQLite file (or an in-memory database).

The standard library's `sqlite3` in WAL mode with `synchronous=NORMAL`: a commit survives
the process being killed (what `kill -9` and crashes do) and costs no fsync. Connections
are autocommit (transactions are explicit) and may be used from any thread; each owner
guards its own with a lock.

A file is held by this process alone: on Linux and macOS it is opened through SQLite's
`unix-excl` VFS, which takes the file's locks once, when it is opened, instead of at every
transaction (six `fcntl` calls a commit on the default VFS), and keeps the WAL index in
memory rather than in a `-shm` file. A POST's history work in a file then cost 93 µs
against 107, and 48 in memory (8 interleaved in-process runs). Connections of the same
process share the file as before; another process cannot open it while it is open (a
second server is refused before that, by `DataDirLock`). Windows has no such VFS.

A busy database gets a `Checkpointer`: SQLite's own checkpoints run inside the commit
that passes 1,000 WAL pages, copying them to the database file and syncing it while
that commit (and every writer queued behind it) waits, which held some requests for up
to a second (W3's p99 in `bench/compare.py`).
"""

from __future__ import annotations

import logging
import sqlite3
import sys
import threading
from pathlib import Path

__all__ = ["Checkpointer", "open_database"]

_logger = logging.getLogger(__name__)

_FALLBACK_CHECKPOINT_PAGES = 50_000
"""With a Checkpointer, a commit still checkpoints past this many WAL pages (~200 MB):
the WAL stays bounded if the checkpointer cannot keep up."""

_WAL_KEPT_BYTES = 64 * 1024 * 1024
"""A WAL file larger than this is truncated back to it once checkpointed."""

_PAGE_BYTES = 2048
"""The page size of a new database file. A commit appends every page it changed to the
WAL, so the two commits of a POST append 15 kB at 2 kB pages against 26 kB at SQLite's
default 4 kB, and cost less CPU: 103 against 117 µs a POST in all, where the same work in
memory takes 53 (12 interleaved runs). A file keeps the page size it was made with."""


def open_database(path: Path | None, schema: str) -> sqlite3.Connection:
    """A connection to the SQLite file at `path` (created if needed), or to a new
    in-memory database for None, with `schema` (idempotent DDL) applied."""
    db = _connect(path)
    db.executescript(schema)
    return db


def _connect(path: Path | None) -> sqlite3.Connection:
    """A connection to the file at `path`, held by this process (see the module), or to
    a new in-memory database for None."""
    if path is None:
        name, uri = ":memory:", False
    elif sys.platform == "win32":
        name, uri = str(path), False
    else:
        name, uri = f"{path.absolute().as_uri()}?vfs=unix-excl", True
    db = sqlite3.connect(
        name,
        uri=uri,
        check_same_thread=False,
        isolation_level=None,  # autocommit; transactions are explicit
    )
    db.execute(f"PRAGMA page_size={_PAGE_BYTES}")  # before WAL mode fixes it
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(f"PRAGMA journal_size_limit={_WAL_KEPT_BYTES}")
    return db


class Checkpointer:
    """Checkpoints a WAL database file every `every` seconds on a thread and connection
    of its own, so that commits on `db` (a connection to `path`) never wait for one.

    A passive checkpoint never blocks writers or readers; what it cannot copy yet (a
    reader still needs it) is copied next time.
    """

    def __init__(self, db: sqlite3.Connection, path: Path, every: float = 0.2) -> None:
        db.execute(f"PRAGMA wal_autocheckpoint={_FALLBACK_CHECKPOINT_PAGES}")
        self._own = _connect(path)
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"labthings-checkpoint-{path.name}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self._own.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error as error:  # a full disk, say: commits still work
                _logger.warning("checkpointing the history failed: %s", error)

    def close(self) -> None:
        """Stop checkpointing (idempotent); the last checkpoint is left to SQLite's close."""
        self._stop.set()
        self._thread.join()
        self._own.close()
