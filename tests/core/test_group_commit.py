"""Group commit: every write durable when its wait returns, in queue order, batched under
load, and a failed batch reported to each of its writers only."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from core_helpers import WAIT

from labthings.core.database import open_database
from labthings.core.group_commit import GroupCommit

_SCHEMA = "CREATE TABLE IF NOT EXISTS rows (n INTEGER PRIMARY KEY, who TEXT NOT NULL);"


class Counted:
    """A GroupCommit on a file database that counts its transactions."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = open_database(path, _SCHEMA)
        self.lock = threading.Lock()
        self.batches = 0
        self.writes = GroupCommit(self.db, self.lock, after_batch=self._count)

    def _count(self) -> None:
        self.batches += 1

    def insert(self, n: int, who: str) -> None:
        self.writes.write(lambda: self.db.execute("INSERT INTO rows VALUES (?, ?)", (n, who)))

    def stored(self) -> list[tuple[int, str]]:
        """What another connection reads: only committed rows."""
        other = sqlite3.connect(self.path)
        try:
            return other.execute("SELECT n, who FROM rows ORDER BY n").fetchall()
        finally:
            other.close()


@pytest.fixture
def counted(tmp_path: Path) -> Counted:
    return Counted(tmp_path / "rows.sqlite3")


def test_a_write_is_committed_when_its_wait_returns(counted: Counted) -> None:
    counted.insert(1, "alone")
    assert counted.stored() == [(1, "alone")]
    assert counted.batches == 1


def test_writes_queued_together_are_committed_in_one_batch_in_queue_order(
    counted: Counted,
) -> None:
    tickets = [
        counted.writes.queue(
            lambda n=n: counted.db.execute("INSERT INTO rows VALUES (?, ?)", (n, f"w{n}"))
        )
        for n in range(5)
    ]
    counted.writes.wait(tickets[2])  # the first waiter commits everything queued so far
    assert counted.stored() == [(n, f"w{n}") for n in range(5)]
    assert counted.batches == 1
    for ticket in tickets:
        counted.writes.wait(ticket)  # already committed: returns at once
    assert counted.batches == 1


def test_with_many_threads_writing_each_finds_its_own_write_stored(
    counted: Counted,
) -> None:
    seen_missing: list[int] = []
    barrier = threading.Barrier(16, timeout=WAIT)

    def writer(first: int) -> None:
        barrier.wait()
        for n in range(first, first + 50):
            counted.insert(n, "t")
            with counted.lock:  # as a reader of the same connection would
                found = counted.db.execute("SELECT 1 FROM rows WHERE n = ?", (n,)).fetchone()
            if found is None:
                seen_missing.append(n)

    threads = [threading.Thread(target=writer, args=(i * 1000,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert not any(thread.is_alive() for thread in threads)
    assert seen_missing == []
    assert len(counted.stored()) == 16 * 50


def test_a_failed_batch_fails_each_of_its_writes_and_the_next_batch_works(
    counted: Counted,
) -> None:
    good = counted.writes.queue(lambda: counted.db.execute("INSERT INTO rows VALUES (1, 'a')"))
    bad = counted.writes.queue(lambda: counted.db.execute("INSERT INTO rows VALUES (1, 'dup')"))
    with pytest.raises(sqlite3.IntegrityError):
        counted.writes.wait(good)  # rolled back with the bad write it was batched with
    with pytest.raises(sqlite3.IntegrityError):
        counted.writes.wait(bad)
    assert counted.stored() == []
    counted.insert(2, "later")
    assert counted.stored() == [(2, "later")]


class LoneWrites:
    """A GroupCommit whose writes note whether a transaction was open, and whose
    `after_batch` can be made due or failing."""

    def __init__(self, path: Path) -> None:
        self.inner = Counted(path)
        self.in_transaction: list[bool] = []
        self.due = False
        self.after_fails = False
        self.failed = 0
        self.writes = GroupCommit(
            self.inner.db,
            self.inner.lock,
            after_batch=self._after,
            after_batch_due=lambda: self.due,
            failed=self._failed,
        )

    def _after(self) -> None:
        self.inner.batches += 1
        if self.after_fails:
            raise sqlite3.OperationalError("no room for the work after the batch")

    def _failed(self) -> None:
        self.failed += 1

    def insert(self, n: int, who: str) -> int:
        def write() -> None:
            self.in_transaction.append(self.inner.db.in_transaction)
            self.inner.db.execute("INSERT INTO rows VALUES (?, ?)", (n, who))

        return self.writes.queue(write, one_statement=True)


@pytest.fixture
def lone(tmp_path: Path) -> LoneWrites:
    return LoneWrites(tmp_path / "rows.sqlite3")


def test_a_lone_single_statement_write_is_committed_without_a_transaction(
    lone: LoneWrites,
) -> None:
    lone.writes.wait(lone.insert(1, "alone"))
    assert lone.inner.stored() == [(1, "alone")]
    assert lone.in_transaction == [False] and lone.inner.batches == 0  # nothing was due
    lone.due = True
    lone.writes.wait(lone.insert(2, "then the work after it"))
    assert lone.inner.stored() == [(1, "alone"), (2, "then the work after it")]
    assert lone.inner.batches == 1


def test_single_statement_writes_queued_together_share_one_transaction(lone: LoneWrites) -> None:
    tickets = [lone.insert(n, f"w{n}") for n in range(3)] + [lone.insert(0, "duplicate")]
    for ticket in tickets:
        with pytest.raises(sqlite3.IntegrityError):
            lone.writes.wait(ticket)  # the batch failed as a whole
    assert lone.in_transaction == [True] * 4
    assert lone.inner.stored() == [] and lone.failed == 1


def test_a_failed_lone_write_fails_its_writer_and_a_failed_after_batch_does_not(
    lone: LoneWrites, caplog: pytest.LogCaptureFixture
) -> None:
    lone.writes.wait(lone.insert(1, "first"))
    with pytest.raises(sqlite3.IntegrityError):
        lone.writes.wait(lone.insert(1, "duplicate"))
    assert lone.failed == 1
    lone.due, lone.after_fails = True, True
    lone.writes.wait(lone.insert(2, "stored though the work after it failed"))
    assert [n for n, _ in lone.inner.stored()] == [1, 2]
    assert lone.failed == 2 and "the next commit retries it" in caplog.text
