"""The invocation history, in SQLite: durable, bounded, and listed newest first.

Every invocation is written to the invocation log (`invocation_log.py`, a memory-mapped
file beside the database) before it runs, and its final record before anyone is told it
has ended: a `kill -9` loses no record a client saw finish. A thread of the history's
own copies final records into the database in batches, every `APPLY_EVERY` seconds;
until then they are read from memory. On opening, final records only in the log are
copied, and invocations started and not ended (the server died while they were pending
or running) get `error` records with a problem of type
`urn:labthings:problem:interrupted`, except those named `resumable` (remote jobs, which
go on being checked after a restart, and whose records the history gives until they
end). The history lists only finished invocations; the caller splices in its live ones.

Finished rows are evicted oldest-finished first beyond a count, an age and a byte
budget; their blobs go with them. `path=None` keeps the history in memory (SQLite's
`:memory:`, written at once, without a log), with the same behaviour for one server run.

The standard library's `sqlite3` in WAL mode with `synchronous=NORMAL`: a commit
survives the process being killed (what `kill -9` and crashes do), and costs no fsync.
"""

from __future__ import annotations

import heapq
import json
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from labthings.core.database import Checkpointer, open_database
from labthings.core.group_commit import GroupCommit
from labthings.core.jsonvalues import json_text, now_utc
from labthings.core.tasks.invocation_log import Final, InvocationLog, final_of
from labthings.core.tasks.record import FINISHED, ListedRecord, TaskStatus

__all__ = ["CompletedInput", "History", "StoredRecord"]

_logger = logging.getLogger(__name__)

LOG_SUFFIX = "-invocations"
"""The invocation log is the database file's name with this added."""

APPLY_EVERY = 0.05
"""Seconds between the copies of final records from the log into the database."""

_APPLY_AT = 256
"""A copy starts at once when this many final records wait for it."""

_RETRY_AT_MOST = 5.0
"""Seconds between tries at most, while copying fails."""

_WAIT_AT = 8192
"""`finish` waits for the copy when this many wait (the database is failing, say), so
that memory stays bounded."""

INTERRUPTED = {
    "type": "urn:labthings:problem:interrupted",
    "title": "The server stopped before the invocation ended",
    "detail": "the server process ended (a crash, kill or power cut) while it was "
    "pending or running; it did not complete",
}

_SEQS_PER_QUERY = 500
_AFTER_EVERY_SEQ = 2**63 - 1

COUNT_SLACK = 50
"""A history past its count bound is cut to 1/COUNT_SLACK below it (1000 finished kept
at most: cut to 980); a bound under COUNT_SLACK is kept exactly."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS invocations (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    thing TEXT NOT NULL,
    action TEXT NOT NULL,
    status TEXT NOT NULL,
    media_type TEXT,
    finished_at REAL,
    size INTEGER NOT NULL,
    version INTEGER NOT NULL,
    record TEXT NOT NULL
);
-- Each index is a page written at every commit that touches it (two a POST), so there
-- are as few as the queries need. A Thing's rows newest first, with the action read
-- from the index; an action filter without a Thing scans the table newest first.
CREATE INDEX IF NOT EXISTS invocations_listing ON invocations (thing, seq, action);
-- Covering: the count and bytes of finished rows are read at opening from this index
-- alone, not from a table of large records (a second read of 1 GB at each restart).
-- With the one above it also finds the unfinished rows at opening (see `_recover`).
CREATE INDEX IF NOT EXISTS invocations_finished ON invocations (finished_at, size)
    WHERE finished_at IS NOT NULL;
DROP INDEX IF EXISTS invocations_by_finish;
DROP INDEX IF EXISTS invocations_by_thing;
DROP INDEX IF EXISTS invocations_by_action;
DROP INDEX IF EXISTS invocations_unfinished;
"""

_UNFINISHED_ROWS = (
    # Rows an earlier version wrote at start (none are written now). Every row's seq,
    # from one index, less the finished rows', from the other: two index scans, where
    # asking for `finished_at IS NULL` would read the whole table.
    "SELECT seq, id, version, record FROM invocations WHERE seq IN ("
    "SELECT seq FROM invocations INDEXED BY invocations_listing EXCEPT "
    "SELECT seq FROM invocations INDEXED BY invocations_finished WHERE finished_at IS NOT NULL)"
)


@dataclass(frozen=True)
class CompletedInput:
    """A completed invocation's id, when it completed (seconds since the epoch), and input."""

    id: str
    completed_at: float
    input: dict[str, Any]


class _Unapplied(NamedTuple):
    """A final record in the log, not yet in the database."""

    record: dict[str, Any]
    final: Final
    entry: str  # as the log holds it


@dataclass(frozen=True)
class StoredRecord:
    """A record as the history holds it: position, version, the record and its JSON text."""

    seq: int
    version: int
    record: dict[str, Any]
    text: str


class History:
    """Invocation records by id and by position (`seq`, increasing with start order).

    Thread-safe: one connection, used under one lock; the log and the records waiting
    to be copied from it, under another. With a file, a thread of its own copies them.
    """

    def __init__(
        self,
        path: Path | None,
        *,
        max_count: int,
        max_age: float,
        max_bytes: int,
        clock: Callable[[], float] = time.time,
        on_evict: Callable[[str], None] = lambda task_id: None,
        resumable: Collection[str] = (),
    ) -> None:
        """Open (creating it if needed) the history at `path`, or in memory for None.

        `on_evict(id)` is called for each evicted invocation that had a blob, and for each
        one found interrupted (a blob may have been written as the server died).
        Unfinished invocations whose ids are in `resumable` stay unfinished.
        """
        self._max_count = max_count
        self._max_age = max_age
        self._max_bytes = max_bytes
        self._clock = clock
        self._on_evict = on_evict
        self._lock = threading.Lock()
        self._db = open_database(path, _SCHEMA)
        self._checkpointer = None if path is None else Checkpointer(self._db, path)
        self._log_lock = threading.Lock()  # taken inside `_lock`, never around it
        self._log = None if path is None else InvocationLog(path.with_name(path.name + LOG_SUFFIX))
        self._unfinished: dict[int, tuple[str, str]] = {}
        """seq: (id, first record's JSON) of each invocation in the log still without a
        final record (nothing is kept for an in-memory history)."""
        self._unfinished_ids: dict[str, int] = {}
        self._unapplied: dict[int, _Unapplied] = {}
        """seq: final records in the log, not yet in the database."""
        self._unapplied_ids: dict[str, int] = {}
        self._live_bytes = 0  # of the entries of both
        self._wake_applier = threading.Event()
        self._apply_lock = threading.Lock()  # one copy at a time
        self._closing = False
        (self._next_seq,) = self._db.execute(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM invocations"
        ).fetchone()
        self._count_finished()
        self._evicted_with_blobs: list[str] = []  # by the batch being committed
        self._writes = GroupCommit(
            self._db,
            self._lock,
            after_batch=self._evict_in_batch,
            after_batch_due=self._evict_due,
            failed=self._rolled_back,
        )
        self._oldest: float | None = None
        """No later than the oldest finished row finished (None: there is none), so that
        eviction need not ask the database while every bound holds."""
        self._oldest_known = False  # not until a first eviction has looked
        self._interrupted = self._recover(frozenset(resumable))
        self._applier: threading.Thread | None = None
        """Started by the first `finish`, so that it runs on the CPUs of the threads that
        finish invocations: its many short hand-overs of the GIL with them stay on one
        CPU (see `labthings/core/cpus.py`)."""

    def _count_finished(self) -> None:
        """Read the finished rows' count and bytes (at opening, and after a failed write)."""
        self._finished_count, self._finished_bytes = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM invocations WHERE finished_at IS NOT NULL"
        ).fetchone()
        self._oldest_known = False

    def _rolled_back(self) -> None:
        """A batch failed: nothing it wrote or evicted happened."""
        self._evicted_with_blobs.clear()
        self._count_finished()

    @property
    def interrupted(self) -> int:
        """How many invocations were found unfinished (and ended as interrupted) on opening."""
        return self._interrupted

    def next_seq(self) -> int:
        """A position after every stored one; the caller numbers new invocations from it."""
        return int(self._next_seq)

    def _recover(self, resumable: frozenset[str]) -> int:
        """Copy into the database the final records only the log has, and end every
        invocation started and not ended (in the log, or in a row an earlier version left
        unfinished) as `error`/interrupted, stamped now, except the `resumable`, which
        stay in the log; how many ended."""
        logged = {} if self._log is None else self._log.read()
        stored = self._finished_among(logged)
        legacy = {seq: text for seq, _, _, text in self._db.execute(_UNFINISHED_ROWS)}
        finals: list[tuple[int, dict[str, Any], Final]] = []
        ended: list[tuple[int, dict[str, Any]]] = []
        for seq, entry in sorted(logged.items() | legacy.items()):
            if seq in stored:
                continue
            try:
                final = final_of(entry)
                record = json.loads(entry if final is None else final.text)
            except ValueError:
                _logger.error("invocation %d's record in the log is unreadable: it is lost", seq)
                continue
            if final is not None:
                finals.append((seq, record, final))
            elif record["id"] in resumable:
                self._note_unfinished(seq, record["id"], entry)
            else:
                ended.append((seq, record))
        now = now_utc()

        def end_them() -> None:
            for seq, record, final in finals:
                self._store_final(seq, record, final)
            for seq, record in ended:
                self._on_evict(record["id"])  # a blob its output was stored in as it died
                record.update(
                    status=TaskStatus.ERROR.value,
                    message="interrupted",
                    error=dict(INTERRUPTED),
                    timeCompleted=now.isoformat(),
                )
                self._store_final(seq, record, Final(now.timestamp(), 1, 0, json_text(record)))

        self._writes.write(end_them)  # first: until it is committed, the log must keep them
        if self._log is not None and (logged or legacy):
            self._log.rewrite(self._live_entries())
        if legacy:  # the resumable left, in the log now
            self._writes.write(self._delete_unfinished_rows)
        self._next_seq = max(self._next_seq, max(logged.keys() | legacy.keys(), default=0) + 1)
        self._forget_blobs()
        return len(ended)

    def _delete_unfinished_rows(self) -> None:
        self._db.execute("DELETE FROM invocations WHERE finished_at IS NULL")

    def _finished_among(self, seqs: Collection[int]) -> set[int]:
        """Those of `seqs` that have a finished row."""
        found: set[int] = set()
        ordered = sorted(seqs)
        for start in range(0, len(ordered), _SEQS_PER_QUERY):
            chunk = ordered[start : start + _SEQS_PER_QUERY]
            found.update(
                seq
                for (seq,) in self._db.execute(
                    f"SELECT seq FROM invocations WHERE seq IN ({', '.join('?' * len(chunk))})"
                    " AND finished_at IS NOT NULL",
                    chunk,
                )
            )
        return found

    def _note_unfinished(self, seq: int, task_id: str, entry: str) -> None:
        """Keep the log's entry of a live invocation (under `_log_lock`)."""
        self._unfinished[seq] = (task_id, entry)
        self._unfinished_ids[task_id] = seq
        self._live_bytes += len(entry)

    def _drop_unfinished(self, seq: int) -> None:
        """Forget a live invocation's entry, if it has one (under `_log_lock`)."""
        found = self._unfinished.pop(seq, None)
        if found is not None:
            del self._unfinished_ids[found[0]]
            self._live_bytes -= len(found[1])

    def _live_entries(self) -> dict[int, str]:
        """The entries a rewritten log keeps: live invocations', and final records not
        yet in the database (under `_log_lock`)."""
        entries = {seq: entry for seq, (_, entry) in self._unfinished.items()}
        entries.update((seq, unapplied.entry) for seq, unapplied in self._unapplied.items())
        return entries

    # -- writing ------------------------------------------------------------------------

    def add(self, seq: int, first_record: Callable[[], dict[str, Any]]) -> None:
        """Note a new invocation's first record, before it runs: when this returns, a
        restart after a crash finds it (interrupted, if it has not finished). Raises
        OSError if it cannot be written (then it must not run). `first_record` is called
        only if the record is written: an in-memory history needs none."""
        if self._log is None:
            return
        record = first_record()
        text = json_text(record)
        with self._log_lock:
            self._log.started(seq, text)
            self._note_unfinished(seq, record["id"], text)
            self._rewrite_if_due()

    def remove(self, seq: int) -> None:
        """Forget invocation `seq`, which never ran (its start was refused)."""
        if self._log is None:
            return
        with self._log_lock:
            self._log.retire([seq])
            self._drop_unfinished(seq)

    def finish(
        self, seq: int, version: int, record: dict[str, Any], text: str, extra_bytes: int = 0
    ) -> None:
        """Store an invocation's final record, whose JSON text is `text` (durable when
        this returns: in the log, or committed to an in-memory database), evicting beyond
        the bounds. `extra_bytes` counts what the record keeps outside the database (its
        blobs)."""
        final = Final(self._clock(), version, extra_bytes, text)
        if self._log is None:
            self._writes.write(lambda: self._store_final(seq, record, final), one_statement=True)
            self._forget_blobs()
            return
        with self._log_lock:
            entry = self._log.finished(seq, final)
            self._drop_unfinished(seq)
            self._unapplied[seq] = _Unapplied(record, final, entry)
            self._unapplied_ids[record["id"]] = seq
            self._live_bytes += len(entry)
            waiting = len(self._unapplied)
            self._rewrite_if_due()
            if self._applier is None and not self._closing:
                self._applier = threading.Thread(
                    target=self._apply_until_closed, name="labthings-history", daemon=True
                )
                self._applier.start()
        if waiting >= _APPLY_AT:
            self._wake_applier.set()
        if waiting >= _WAIT_AT:
            self._apply()  # raises what the database says, if it is failing

    def _rewrite_if_due(self) -> None:
        assert self._log is not None
        if self._log.wants_rewrite(self._live_bytes):
            self._log.rewrite(self._live_entries())

    def _apply_until_closed(self) -> None:
        """The applier thread: copy final records into the database every `APPLY_EVERY`
        seconds (at once when many wait), until `close`. After a failure it waits twice
        as long each time, up to `_RETRY_AT_MOST` seconds, so that a broken database is
        not logged 20 times a second."""
        every = APPLY_EVERY
        while not self._closing:
            self._wake_applier.wait(every)
            self._wake_applier.clear()
            try:
                self._apply()
            except Exception:  # the records stay in the log and memory: tried again
                _logger.exception("copying final records into the history failed")
                every = min(2 * every, _RETRY_AT_MOST)
            else:
                every = APPLY_EVERY

    def _apply(self) -> None:
        """Copy the final records waiting into the database, in one transaction."""
        with self._apply_lock:
            self._apply_locked()

    def _apply_locked(self) -> None:
        with self._log_lock:
            batch = list(self._unapplied.items())
        if not batch:
            return

        def store() -> None:
            for seq, unapplied in batch:
                self._store_final(seq, unapplied.record, unapplied.final)

        self._writes.write(store)
        with self._log_lock:
            for seq, unapplied in batch:
                if self._unapplied.get(seq) is unapplied:
                    del self._unapplied[seq]
                    del self._unapplied_ids[unapplied.record["id"]]
                    self._live_bytes -= len(unapplied.entry)
        self._forget_blobs()

    def _store_final(self, seq: int, record: dict[str, Any], final: Final) -> None:
        size = len(final.text) + final.extra_bytes
        self._db.execute(
            "INSERT OR REPLACE INTO invocations (seq, id, thing, action, status, media_type,"
            " finished_at, size, version, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                seq,
                record["id"],
                record["thing"],
                record["action"],
                record["status"],
                record.get("outputMediaType"),
                final.finished_at,
                size,
                final.version,
                final.text,
            ),
        )
        self._finished_count += 1
        self._finished_bytes += size
        if self._oldest is None:
            self._oldest = final.finished_at

    def _evict_locked(self) -> list[str]:
        """Delete the finished rows that finished longest ago beyond count, age and bytes,
        in the batch's transaction; the ids of those that had a blob.

        Past the count, the oldest go together, down to `max_count // COUNT_SLACK` below
        it, so that a full history under load deletes in one statement every so often,
        not a row at every finish: the pages those rows share are written once, not at
        every commit. While every bound holds, as after almost every finish, no query is
        made: the oldest finish time kept is a lower bound, only checked when it is too
        old.
        """
        oldest_allowed = self._clock() - self._max_age
        with_blobs: list[str] = []
        while self._finished_count:
            excess = self._finished_count - self._max_count
            if excess <= 0 and self._finished_bytes <= self._max_bytes:
                if self._known_young_enough(oldest_allowed):
                    return with_blobs
                row = self._db.execute(
                    "SELECT finished_at FROM invocations"
                    " WHERE finished_at IS NOT NULL ORDER BY finished_at LIMIT 1"
                ).fetchone()
                self._oldest, self._oldest_known = (None if row is None else row[0]), True
                if row is None or row[0] >= oldest_allowed:
                    return with_blobs
            count = excess + self._max_count // COUNT_SLACK if excess > 0 else 1
            deleted = self._db.execute(
                "DELETE FROM invocations WHERE seq IN (SELECT seq FROM invocations"
                " WHERE finished_at IS NOT NULL ORDER BY finished_at LIMIT ?)"
                " RETURNING seq, id, finished_at, size, media_type",
                (count,),
            ).fetchall()
            if not deleted:  # the counts were wrong: read them again
                self._count_finished()
                continue
            self._retire(seq for seq, *_ in deleted)
            for _, task_id, _, size, media_type in deleted:
                self._finished_count -= 1
                self._finished_bytes -= size
                if media_type is not None:
                    with_blobs.append(task_id)
            self._oldest = max(finished_at for _, _, finished_at, _, _ in deleted)
            self._oldest_known = True  # the rest finished later than any deleted
        self._oldest, self._oldest_known = None, True
        return with_blobs

    def _retire(self, seqs: Iterable[int]) -> None:
        """Note in the log, before their deletion is committed, that these rows'
        lines are no longer needed: else a restart would take them for unfinished."""
        if self._log is not None:
            with self._log_lock:
                self._log.retire(seqs)

    def _evict_due(self) -> bool:
        """Whether `_evict_locked` would delete or ask anything (no query: the counts)."""
        if not self._finished_count:
            return False
        if self._finished_count > self._max_count or self._finished_bytes > self._max_bytes:
            return True
        return not self._known_young_enough(self._clock() - self._max_age)

    def _known_young_enough(self, oldest_allowed: float) -> bool:
        """Whether the rows are known, without a query, to have finished since `oldest_allowed`."""
        return self._oldest_known and (self._oldest is None or self._oldest >= oldest_allowed)

    def _evict_in_batch(self) -> None:
        """Evict within a batch's transaction; its blobs go once it is committed."""
        self._evicted_with_blobs.extend(self._evict_locked())

    def evict(self) -> None:
        """Copy the final records waiting into the database, and apply the bounds now
        (age passes even when nothing finishes)."""
        if self._unapplied:
            self._apply()  # evicts in the same transaction
        else:
            self._writes.write(lambda: None, one_statement=True)  # no statement: the bounds
        self._forget_blobs()

    def _forget_blobs(self) -> None:
        """Delete the blobs of the rows a committed batch evicted."""
        if not self._evicted_with_blobs:
            # Almost always: no lock to wait for. A batch adds to the list before its
            # commit returns, and every writer calls this after its write (`stored`,
            # `remove`, `finish`, `evict`), so one of the batch's writers sees it.
            return
        with self._lock:
            task_ids, self._evicted_with_blobs = self._evicted_with_blobs, []
        for task_id in task_ids:
            self._on_evict(task_id)

    # -- reading ------------------------------------------------------------------------

    def get(self, task_id: str) -> StoredRecord | None:
        """The record with this id: its final one, or the first of a resumable
        invocation not yet ended; None if the history has none."""
        if self._unapplied_ids:
            with self._log_lock:
                seq = self._unapplied_ids.get(task_id)
                unapplied = None if seq is None else self._unapplied[seq]
            if seq is not None and unapplied is not None:
                final = unapplied.final
                return StoredRecord(seq, final.version, json.loads(final.text), final.text)
        with self._lock:
            row = self._db.execute(
                "SELECT seq, version, record FROM invocations WHERE id = ?", (task_id,)
            ).fetchone()
        if row is not None:
            return StoredRecord(row[0], row[1], json.loads(row[2]), row[2])
        if not self._unfinished_ids:
            return None
        with self._log_lock:
            seq = self._unfinished_ids.get(task_id)
            text = None if seq is None else self._unfinished[seq][1]
        return None if seq is None or text is None else StoredRecord(seq, 0, json.loads(text), text)

    def completed_since(self, thing: str, action: str, since: float) -> list[CompletedInput]:
        """The completed invocations of `thing`'s `action` finished at or after `since`,
        oldest first; only their inputs are read from the records."""
        with self._lock:
            rows = self._db.execute(
                # The few rows finished since, by time; not all of the Thing's rows.
                "SELECT id, finished_at, json_extract(record, '$.input')"
                " FROM invocations INDEXED BY invocations_finished"
                " WHERE thing = ? AND action = ? AND status = ? AND finished_at >= ?"
                " ORDER BY finished_at",
                (thing, action, TaskStatus.COMPLETED.value, since),
            ).fetchall()
        found = {
            task_id: CompletedInput(task_id, at, json.loads(text)) for task_id, at, text in rows
        }
        for _, (record, final, _) in self._unapplied_items():
            if (record["thing"], record["action"], record["status"]) == (
                thing,
                action,
                "completed",
            ) and final.finished_at >= since:
                found[record["id"]] = CompletedInput(
                    record["id"], final.finished_at, record["input"]
                )
        return sorted(found.values(), key=lambda completed: completed.completed_at)

    def newest_first(
        self,
        *,
        thing: str | None,
        action: str | None,
        statuses: Collection[TaskStatus],
        before: int | None,
        batch: int,
    ) -> Iterator[tuple[int, ListedRecord]]:
        """(seq, listed record) of the matching finished invocations, newest first, read
        in batches."""
        wanted = {status.value for status in statuses if status in FINISHED}
        if statuses and not wanted:
            return
        waiting = sorted(
            (
                (seq, ListedRecord.of(unapplied.record, unapplied.final.text))
                for seq, unapplied in self._unapplied_items()
                if (before is None or seq < before)
                and thing in (None, unapplied.record["thing"])
                and action in (None, unapplied.record["action"])
                and (not wanted or unapplied.record["status"] in wanted)
            ),
            key=lambda pair: pair[0],
            reverse=True,
        )  # before the database is read: one copied meanwhile is in both, not in neither
        stored = self._stored_newest_first(thing, action, wanted, before, batch)
        last_seq = None
        for seq, item in heapq.merge(waiting, stored, key=lambda pair: pair[0], reverse=True):
            if seq != last_seq:
                yield seq, item
                last_seq = seq

    def _unapplied_items(self) -> list[tuple[int, _Unapplied]]:
        if not self._unapplied:
            return []
        with self._log_lock:
            return list(self._unapplied.items())

    def _stored_newest_first(
        self,
        thing: str | None,
        action: str | None,
        wanted: Collection[str],
        before: int | None,
        batch: int,
    ) -> Iterator[tuple[int, ListedRecord]]:
        conditions = ["seq < ?"]
        parameters: list[Any] = [before if before is not None else _AFTER_EVERY_SEQ]
        if thing is not None:
            conditions.append("thing = ?")
            parameters.append(thing)
        if action is not None:
            conditions.append("action = ?")
            parameters.append(action)
        if wanted:
            conditions.append(f"status IN ({', '.join('?' * len(wanted))})")
            parameters.extend(wanted)
        query = (
            "SELECT seq, id, thing, action, media_type, record FROM invocations WHERE "
            + " AND ".join(conditions)
            + " ORDER BY seq DESC LIMIT ?"
        )
        while True:
            with self._lock:
                rows = self._db.execute(query, [*parameters, batch]).fetchall()
            for seq, *listed in rows:
                yield seq, ListedRecord(*listed)
            if len(rows) < batch:
                return
            parameters[0] = rows[-1][0]

    def close(self) -> None:
        """Copy the last final records into the database and close it; the log keeps the
        entries of the invocations still unfinished only (idempotent)."""
        with self._log_lock:
            self._closing = True
            applier, self._applier = self._applier, None
        if applier is not None:
            self._wake_applier.set()
            applier.join()
        if self._log is not None:
            try:
                self._apply()
            except Exception:  # they stay in the log, and are copied at the next opening
                _logger.exception("copying the last final records into the history failed")
        if self._checkpointer is not None:
            self._checkpointer.close()
        with self._lock:
            self._db.close()
        if self._log is not None:
            with self._log_lock:
                if not self._log.closed:
                    self._log.rewrite(self._live_entries())
                self._log.close()
