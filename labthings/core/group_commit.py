"""Group commit: writes queued by many threads, committed together in one transaction.

A commit to an SQLite file costs far more than the statement it commits (WAL frames,
file locks, the GIL given up and taken back), and a busy server makes several a
request. Here a caller queues its write and waits for its ticket; the first waiter
that finds no commit under way takes every write queued so far and commits them in one
transaction, while later writes queue behind it for the next one. Alone, a write is
committed at once; under load, one commit serves many.

Writes are applied in the order they were queued, so a reader sees them in that order.
A batch that fails is rolled back as a whole, and each of its waiters gets the error.

A batch of one write that is a single statement (say so when queueing it) runs without
BEGIN and COMMIT: SQLite commits the statement by itself, and each of the two saved
statements gives up Python's GIL and takes it back, which costs a thread switch on a
busy server. Under load most batches hold several writes; at a steady rate most hold one.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections import deque
from collections.abc import Callable

__all__ = ["GroupCommit", "Write"]

Write = Callable[[], None]
"""Runs a write's statements on the connection (the caller's transaction is open)."""

_KEPT_FAILURES = 64

_logger = logging.getLogger(__name__)


class GroupCommit:
    """Commits the writes queued on one connection, many per transaction.

    `db_lock` guards the connection: a batch holds it from BEGIN to COMMIT, so a reader
    that takes it never sees a half-made batch. `after_batch` runs inside each batch's
    transaction once its writes are done (history eviction), and `failed` after a batch
    was rolled back (to re-read what the writes had counted in memory). After a lone
    single-statement write, `after_batch` runs in a transaction of its own if
    `after_batch_due()` says it has work; if it fails there, that is logged and `failed`
    called, but the write, committed, still succeeds.
    """

    def __init__(
        self,
        db: sqlite3.Connection,
        db_lock: threading.Lock,
        *,
        after_batch: Callable[[], None] = lambda: None,
        after_batch_due: Callable[[], bool] = lambda: True,
        failed: Callable[[], None] = lambda: None,
    ) -> None:
        self._db = db
        self._db_lock = db_lock
        self._after_batch = after_batch
        self._after_batch_due = after_batch_due
        self._failed = failed
        self._ready = threading.Condition(threading.Lock())
        self._queue: list[tuple[Write, bool]] = []  # (write, is one statement)
        self._queued = 0  # tickets handed out
        self._done = 0  # tickets committed or failed, in order
        self._leading = False
        self._failures: deque[tuple[int, int, BaseException]] = deque(maxlen=_KEPT_FAILURES)

    def queue(self, write: Write, *, one_statement: bool = False) -> int:
        """Queue `write`; its ticket for `wait`. Cheap: never waits for a commit.

        `one_statement`: the write runs a single SQL statement (and no other), so that
        alone in its batch it needs no transaction of its own."""
        with self._ready:
            self._queue.append((write, one_statement))
            self._queued += 1
            return self._queued

    def wait(self, ticket: int) -> None:
        """Return once the write with `ticket` is committed (durable); raise the error
        its batch failed with. Never call it holding `db_lock`."""
        with self._ready:
            while self._done < ticket:
                if not self._leading:
                    self._leading = True
                    batch, self._queue = self._queue, []
                    last = self._queued
                    break
                self._ready.wait()
            else:
                self._raise_if_failed(ticket)
                return
        error: BaseException | None = None
        try:
            with self._db_lock:
                self._commit(batch)
        except BaseException as failure:  # noqa: BLE001 - every waiter must hear of it
            error = failure
        with self._ready:
            if error is not None:
                self._failures.append((last - len(batch) + 1, last, error))
            self._done = last
            self._leading = False
            self._ready.notify_all()
            self._raise_if_failed(ticket)

    def write(self, write: Write, *, one_statement: bool = False) -> None:
        """Queue `write` and wait until it is committed (see `queue`)."""
        self.wait(self.queue(write, one_statement=one_statement))

    def _commit(self, batch: list[tuple[Write, bool]]) -> None:
        if len(batch) == 1 and batch[0][1]:
            self._commit_alone(batch[0][0])
            return
        self._in_transaction([write for write, _ in batch])

    def _in_transaction(self, writes: list[Write]) -> None:
        self._db.execute("BEGIN")
        try:
            for write in writes:
                write()
            self._after_batch()
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            self._failed()
            raise

    def _commit_alone(self, write: Write) -> None:
        """A single-statement write, committed by SQLite as it runs; then `after_batch`
        in its own transaction if it has work."""
        try:
            write()
        except BaseException:
            self._failed()  # nothing was written: the statement failed as a whole
            raise
        if self._after_batch_due():
            try:
                self._in_transaction([])
            except Exception:  # the write is committed: its waiter must not hear otherwise
                _logger.exception("the work after a commit failed; the next commit retries it")

    def _raise_if_failed(self, ticket: int) -> None:
        for first, last, error in self._failures:
            if first <= ticket <= last:
                raise error
