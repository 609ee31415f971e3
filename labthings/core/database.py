"""The one way labthings opens its SQLite file (or an in-memory database).

The standard library's `sqlite3` in WAL mode with `synchronous=NORMAL`: a commit survives
the process being killed (what `kill -9` and crashes do) and costs no fsync. Connections
are autocommit (transactions are explicit) and may be used from any thread; each owner
guards its own with a lock.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

__all__ = ["open_database"]


def open_database(path: Path | None, schema: str) -> sqlite3.Connection:
    """A connection to the SQLite file at `path` (created if needed), or to a new
    in-memory database for None, with `schema` (idempotent DDL) applied."""
    db = sqlite3.connect(
        ":memory:" if path is None else str(path),
        check_same_thread=False,
        isolation_level=None,  # autocommit; transactions are explicit
    )
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(schema)
    return db
