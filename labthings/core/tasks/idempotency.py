"""Idempotency keys: which invocation each client's `Idempotency-Key` started, for a while.

A client that sends a POST with a key it chose (IETF httpapi draft "The Idempotency-Key
HTTP Header Field") can send it again, after a timeout or a lost connection, without
starting the action twice: the key leads back to the invocation the first request made.
A key belongs to whoever sent it (the access token's name, or everyone on a server
without tokens), names one request (Thing, action and input), and is forgotten after
the server's `idempotency_keys_for`; a repeat after that is a new request.

Keys are kept in a SQLite file of their own in the data folder (`KEYS_FILE`), so they
outlive a restart; `path=None` keeps them in memory (an `--ephemeral` server).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from labthings.core.database import open_database
from labthings.core.errors import ConflictError, ShuttingDownError, ValidationError

__all__ = [
    "HEADER",
    "KEYS_FILE",
    "IdempotencyKeyBusy",
    "IdempotencyKeyReused",
    "IdempotencyKeys",
    "KeyedRequest",
    "StoredKey",
]

HEADER = "Idempotency-Key"

KEYS_FILE = "idempotency-keys.sqlite3"
"""The SQLite file of the keys in a data folder: a file of their own, so that storing a
key never waits for the history's write lock (a task finishing at that moment)."""

PURGE_EVERY = 60.0
"""Seconds between deletions of expired keys (an expired key is never used meanwhile)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency_keys (
    holder TEXT NOT NULL,
    key TEXT NOT NULL,
    thing TEXT NOT NULL,
    action TEXT NOT NULL,
    digest TEXT NOT NULL,
    invocation TEXT NOT NULL,
    expires REAL NOT NULL,
    PRIMARY KEY (holder, key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_by_expiry ON idempotency_keys (expires);
"""


@dataclass(frozen=True)
class KeyedRequest:
    """What a key was sent with: the Thing, the action and the digest of its input."""

    thing: str
    action: str
    digest: str


@dataclass(frozen=True)
class StoredKey:
    """A remembered key: the request it was first sent with and the invocation it led to."""

    request: KeyedRequest
    invocation: str

    def check(self, request: KeyedRequest) -> None:
        """`IdempotencyKeyReused` unless `request` is the one this key was first sent with."""
        first = self.request
        if (first.thing, first.action) != (request.thing, request.action):
            raise IdempotencyKeyReused(
                f"this {HEADER} was used for another action ({first.thing}/{first.action},"
                f" invocation {self.invocation}); send a new key for a new request"
            )
        if first.digest != request.digest:
            raise IdempotencyKeyReused(
                f"this {HEADER} was used with another body (invocation {self.invocation});"
                " send a new key for a new request"
            )


class IdempotencyKeyReused(ValidationError):
    """A key sent again with another action or body (the draft's 422)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, {HEADER: [message]})


class IdempotencyKeyBusy(ConflictError):
    """The first request with a key is still being started after a long wait (409)."""


class IdempotencyKeys:
    """Keys by holder, each with its request and invocation, until they expire.

    Thread-safe: one connection, used under one lock. Every change is committed when
    the call returns.
    """

    def __init__(
        self, path: Path | None, *, lifetime: float, clock: Callable[[], float] = time.time
    ) -> None:
        """Open (creating it if needed) the key store in the SQLite file at `path`, or
        in memory for None. Keys live `lifetime` seconds by `clock` (seconds since the
        epoch)."""
        self._lifetime = lifetime
        self._clock = clock
        self._lock = threading.Lock()
        self._db = open_database(path, _SCHEMA)
        self._next_purge = 0.0
        self._closed = False
        with self._lock:
            self._purge_locked(self._clock())

    def find(self, holder: str, key: str) -> StoredKey | None:
        """The unexpired key `key` of `holder`, or None."""
        with self._lock:
            self._check_open_locked()
            row = self._db.execute(
                "SELECT thing, action, digest, invocation FROM idempotency_keys"
                " WHERE holder = ? AND key = ? AND expires > ?",
                (holder, key, self._clock()),
            ).fetchone()
        if row is None:
            return None
        thing, action, digest, invocation = row
        return StoredKey(KeyedRequest(thing, action, digest), invocation)

    def remember(self, holder: str, key: str, request: KeyedRequest, invocation: str) -> None:
        """Remember that `holder`'s `key`, sent with `request`, led to `invocation`, from
        now for the lifetime (replacing the key if it had expired or was forgotten)."""
        now = self._clock()
        with self._lock:
            self._check_open_locked()
            self._db.execute(
                "INSERT INTO idempotency_keys"
                " (holder, key, thing, action, digest, invocation, expires)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (holder, key) DO UPDATE SET thing = excluded.thing,"
                " action = excluded.action, digest = excluded.digest,"
                " invocation = excluded.invocation, expires = excluded.expires",
                (
                    holder,
                    key,
                    request.thing,
                    request.action,
                    request.digest,
                    invocation,
                    now + self._lifetime,
                ),
            )
            if now >= self._next_purge:
                self._purge_locked(now)

    def __len__(self) -> int:
        """How many keys are stored (expired ones included until they are purged)."""
        with self._lock:
            count: int = self._db.execute("SELECT COUNT(*) FROM idempotency_keys").fetchone()[0]
        return count

    def _purge_locked(self, now: float) -> None:
        self._db.execute("DELETE FROM idempotency_keys WHERE expires <= ?", (now,))
        self._next_purge = now + PURGE_EVERY

    def _check_open_locked(self) -> None:
        if self._closed:
            raise ShuttingDownError("the server is shutting down; no new invocations")

    def close(self) -> None:
        """Close the database (idempotent); using it afterwards is a ShuttingDownError."""
        with self._lock:
            self._closed = True
            self._db.close()
