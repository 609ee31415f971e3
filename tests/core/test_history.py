"""Durable history: records survive reopening, interrupted ones end in error, bounds by
count, age and bytes evict the oldest finished (with their blobs), large and binary
outputs are kept as blobs, and memory holds only unfinished tasks."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from core_helpers import WAIT, FakeClock, finish, invoke, serve, wait_until

from labthings import Thing, action, cancellable_sleep
from labthings.core.settings import Settings
from labthings.core.tasks import history as history_module
from labthings.core.tasks import invocation_log as log_module
from labthings.core.tasks.history import LOG_SUFFIX, History
from labthings.core.tasks.invocation_log import InvocationLog
from labthings.core.tasks.runner import TaskRunner
from labthings.core.things.blob import Blob
from labthings.core.things.persistence import STATE_FILE
from labthings.core.things.registry import ThingEntry


class Lab(Thing):
    @action(lock=False)
    def quick(self, n: int = 0) -> int:
        return n

    @action(lock=False)
    def slow(self, seconds: float = 30.0) -> None:
        cancellable_sleep(seconds)

    @action(lock=False)
    def spectrum(self, points: int) -> list[float]:
        return [0.5] * points

    @action(lock=False)
    def picture(self) -> Blob:
        return Blob(b"\x89PNG fake", "image/png")


@pytest.fixture
def entry() -> ThingEntry:
    return serve(Lab(), "lab")


def runner_in(folder: Path, **settings: Any) -> TaskRunner:
    return TaskRunner(Settings(**settings), data_dir=folder)


def test_finished_records_survive_reopening_and_numbering_continues(
    tmp_path: Path, entry: ThingEntry
) -> None:
    runner = runner_in(tmp_path)
    records = [finish(invoke(runner, entry, "quick", {"n": n})) for n in range(3)]
    runner.shutdown(WAIT)
    runner.close()

    reopened = runner_in(tmp_path)
    try:
        assert reopened.page(limit=10).records == list(reversed(records))
        assert reopened.get(records[0]["id"]).snapshot() == records[0]
        newer = finish(invoke(reopened, entry, "quick", {"n": 9}))
        assert [r["id"] for r in reopened.page(limit=1).records] == [newer["id"]]
    finally:
        reopened.shutdown(WAIT)
        reopened.close()


def test_unfinished_invocations_come_back_interrupted(tmp_path: Path, entry: ThingEntry) -> None:
    runner = runner_in(tmp_path)
    running = invoke(runner, entry, "slow", {})
    done = finish(invoke(runner, entry, "quick", {"n": 1}))
    # The process dies here: nothing is shut down, the database is just abandoned.
    reopened = runner_in(tmp_path)
    try:
        assert reopened.interrupted == 1
        record = reopened.get(running.id).snapshot()
        assert record["status"] == "error"
        assert record["error"]["type"] == "urn:labthings:problem:interrupted"
        assert record["timeCompleted"] is not None
        assert reopened.get(done["id"]).snapshot() == done
        assert [r["status"] for r in reopened.page(limit=10, statuses=[]).records] == [
            "completed",
            "error",
        ]
    finally:
        reopened.close()
        running.cancel()
        runner.shutdown(WAIT)
        runner.close()


def test_a_history_with_the_earlier_indexes_opens_with_the_new_ones(
    tmp_path: Path, entry: ThingEntry
) -> None:
    runner = runner_in(tmp_path)
    running = invoke(runner, entry, "slow", {})
    done = finish(invoke(runner, entry, "quick", {"n": 1}))
    # As the previous version made it: other indexes, one of them for unfinished rows.
    earlier = sqlite3.connect(tmp_path / STATE_FILE, isolation_level=None)
    earlier.executescript(
        """
        DROP INDEX invocations_listing;
        CREATE INDEX invocations_by_thing ON invocations (thing, seq);
        CREATE INDEX invocations_by_action ON invocations (action, seq);
        CREATE INDEX invocations_unfinished ON invocations (seq) WHERE status = 'unfinished';
        """
    )
    earlier.close()
    reopened = runner_in(tmp_path)
    try:
        assert reopened.interrupted == 1
        assert reopened.get(running.id).snapshot()["status"] == "error"
        assert [r["id"] for r in reopened.page(limit=10, thing="lab", action="quick").records] == [
            done["id"]
        ]
        assert [r["id"] for r in reopened.page(limit=10, action="slow").records] == [running.id]
        indexes = {
            name
            for (name,) in reopened._history._db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            )
        }
        assert indexes == {"invocations_listing", "invocations_finished"}
    finally:
        reopened.close()
        running.cancel()
        runner.shutdown(WAIT)
        runner.close()


def test_a_new_history_has_small_pages_and_an_earlier_file_keeps_its_own(
    tmp_path: Path, entry: ThingEntry
) -> None:
    earlier_folder, new_folder = tmp_path / "earlier", tmp_path / "new"
    earlier_folder.mkdir()
    new_folder.mkdir()
    # A file made with SQLite's default page size, as earlier versions made them.
    sqlite3.connect(earlier_folder / STATE_FILE).execute("PRAGMA journal_mode=WAL").close()
    for folder in (earlier_folder, new_folder):
        runner = runner_in(folder)
        done = finish(invoke(runner, entry, "quick", {"n": 2}))
        runner.shutdown(WAIT)
        runner.close()
        reopened = runner_in(folder)
        try:
            assert reopened.get(done["id"]).snapshot() == done
        finally:
            reopened.close()
    page_sizes = {
        folder.name: sqlite3.connect(folder / STATE_FILE).execute("PRAGMA page_size").fetchone()[0]
        for folder in (earlier_folder, new_folder)
    }
    assert page_sizes == {"earlier": 4096, "new": 2048}


@pytest.mark.skipif(sys.platform == "win32", reason="the unix-excl VFS is not on Windows")
def test_the_file_is_held_by_this_process_alone_while_it_is_open(
    tmp_path: Path, entry: ThingEntry
) -> None:
    read = (
        "import sqlite3, sys; "
        "print(sqlite3.connect(sys.argv[1]).execute('SELECT COUNT(*) FROM invocations')"
        ".fetchone()[0])"
    )

    def count_from_another_process() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", read, str(tmp_path / STATE_FILE)],
            capture_output=True,
            text=True,
            timeout=30,
        )

    runner = runner_in(tmp_path)
    finish(invoke(runner, entry, "quick", {"n": 1}))
    held = count_from_another_process()
    assert "database is locked" in held.stderr
    same_process = sqlite3.connect(tmp_path / STATE_FILE)  # shares the file as before
    assert same_process.execute("SELECT COUNT(*) FROM invocations").fetchone() == (1,)
    same_process.close()
    assert not (tmp_path / f"{STATE_FILE}-shm").exists()  # the WAL index is in memory
    runner.shutdown(WAIT)
    runner.close()
    assert count_from_another_process().stdout.strip() == "1"


def test_memory_holds_only_unfinished_tasks(tmp_path: Path, entry: ThingEntry) -> None:
    runner = runner_in(tmp_path)
    try:
        for n in range(50):
            finish(invoke(runner, entry, "quick", {"n": n}))
        assert runner._tasks == {}
        assert len(runner.page(limit=100).records) == 50
    finally:
        runner.close()


def test_eviction_by_count_age_and_bytes(tmp_path: Path, entry: ThingEntry) -> None:
    clock = FakeClock()
    runner = TaskRunner(
        Settings(history_max_count=5, history_max_age=60, history_max_bytes=42_000),
        clock=clock,
        data_dir=tmp_path,
    )
    try:
        ids = [finish(invoke(runner, entry, "quick", {"n": n}))["id"] for n in range(8)]
        assert [r["id"] for r in runner.page(limit=100).records] == list(reversed(ids[3:]))
        big = finish(invoke(runner, entry, "spectrum", {"points": 10_000}))  # about 40 kB
        assert len(runner.page(limit=100).records) < 5  # the byte budget evicted more
        assert big["id"] == runner.page(limit=1).records[0]["id"]
        clock.advance(61)
        assert runner.page(limit=100).records == []
        assert not (tmp_path / "blobs" / big["id"]).exists() or big["outputMediaType"] is None
    finally:
        runner.close()


def test_an_evicted_record_does_not_come_back_after_a_crash(
    tmp_path: Path, entry: ThingEntry
) -> None:
    runner = runner_in(tmp_path, history_max_count=3)
    ids = [finish(invoke(runner, entry, "quick", {"n": n}))["id"] for n in range(10)]
    # The process dies here; the started log still holds a line for each of the ten.
    reopened = runner_in(tmp_path, history_max_count=3)
    try:
        assert reopened.interrupted == 0
        assert [r["id"] for r in reopened.page(limit=100).records] == list(reversed(ids[7:]))
    finally:
        reopened.close()
        runner.close()


def test_final_records_only_in_the_log_are_copied_at_reopening(
    tmp_path: Path, entry: ThingEntry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history_module, "APPLY_EVERY", 3600)  # no copy while it runs
    runner = runner_in(tmp_path)
    records = [finish(invoke(runner, entry, "quick", {"n": n})) for n in range(5)]
    assert runner.get(records[0]["id"]).snapshot() == records[0]  # read from memory
    database = sqlite3.connect(tmp_path / STATE_FILE)
    assert database.execute("SELECT COUNT(*) FROM invocations").fetchone() == (0,)
    database.close()
    # The process dies here.
    reopened = runner_in(tmp_path)
    try:
        assert reopened.interrupted == 0
        assert reopened.page(limit=10).records == list(reversed(records))
    finally:
        reopened.close()
        runner.close()


def test_an_unreadable_line_of_the_log_is_skipped_and_the_rest_recovered(
    tmp_path: Path,
) -> None:
    started = json.dumps({"id": "died", "thing": "lab", "action": "slow", "status": "running"})
    (tmp_path / (STATE_FILE + LOG_SUFFIX)).write_text(
        f"1\t+not a time 1 0 {{}}\n2\t{{broken json\n3\t{started}\n"
    )
    history = History(tmp_path / STATE_FILE, max_count=10, max_age=3600, max_bytes=10**9)
    try:
        assert history.interrupted == 1
        died = history.get("died")
        assert died is not None and died.seq == 3 and died.record["status"] == "error"
    finally:
        history.close()


def test_while_the_database_fails_final_records_are_kept_and_copied_once_it_works(
    tmp_path: Path, entry: ThingEntry, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    runner = runner_in(tmp_path)
    history = runner._history
    original = History._store_final
    failing = [True]

    def store_final(self: History, *args: Any) -> None:
        if failing[0]:
            raise sqlite3.OperationalError("disk I/O error")
        original(self, *args)

    monkeypatch.setattr(History, "_store_final", store_final)
    try:
        records = [finish(invoke(runner, entry, "quick", {"n": n})) for n in range(3)]
        wait_until(lambda: "copying final records into the history failed" in caplog.text)
        assert [runner.get(r["id"]).snapshot() for r in records] == records  # from memory
        failing[0] = False
        assert runner.page(limit=10).records == list(reversed(records))  # copies first
        assert history._unapplied == {}
        database = sqlite3.connect(tmp_path / STATE_FILE)
        assert database.execute("SELECT COUNT(*) FROM invocations").fetchone() == (3,)
        database.close()
    finally:
        runner.close()


def test_the_log_keeps_only_the_live_lines(
    tmp_path: Path, entry: ThingEntry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(log_module, "COMPACT_BYTES", 4096)
    runner = runner_in(tmp_path)
    log = tmp_path / (STATE_FILE + LOG_SUFFIX)
    try:
        running = invoke(runner, entry, "slow", {})
        sizes = []
        for n in range(200):  # about 150 kB of lines
            finish(invoke(runner, entry, "quick", {"n": n}))
            runner.page(limit=1)  # a listing copies the final records into the database
            sizes.append(log.stat().st_size)
        assert max(sizes) < 3 * 4096
        kept = InvocationLog(log)
        assert running.seq in kept.read()  # with the quick ones since the last rewrite
        kept.close()
        # A crash now: the one running is found, and only it.
        reopened = runner_in(tmp_path)
        try:
            assert reopened.interrupted == 1
            assert reopened.get(running.id).snapshot()["status"] == "error"
            assert len(reopened.page(limit=1000).records) == 201
        finally:
            reopened.close()
    finally:
        running.cancel()
        runner.shutdown(WAIT)
        runner.close()


def test_rows_an_earlier_version_left_unfinished_end_interrupted_or_resume(
    tmp_path: Path,
) -> None:
    def unfinished_row(seq: int, task_id: str) -> tuple[Any, ...]:
        record = {"id": task_id, "thing": "lab", "action": "slow", "status": "running"}
        text = json.dumps(record)
        return (seq, task_id, "lab", "slow", "unfinished", len(text), 0, text)

    History(tmp_path / STATE_FILE, max_count=10, max_age=3600, max_bytes=10**9).close()
    earlier = sqlite3.connect(tmp_path / STATE_FILE, isolation_level=None)
    earlier.executemany(
        "INSERT INTO invocations (seq, id, thing, action, status, size, version, record)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [unfinished_row(1, "died"), unfinished_row(2, "remote")],
    )
    earlier.close()
    for _ in range(2):  # the resumable one stays so across restarts
        history = History(
            tmp_path / STATE_FILE,
            max_count=10,
            max_age=3600,
            max_bytes=10**9,
            resumable={"remote"},
        )
        try:
            died, remote = history.get("died"), history.get("remote")
            assert died is not None and died.record["status"] == "error"
            assert remote is not None and (remote.seq, remote.record["status"]) == (2, "running")
            assert [
                seq
                for seq, _ in history.newest_first(
                    thing=None, action=None, statuses=(), before=None, batch=10
                )
            ] == [1]
            assert history.next_seq() == 3
        finally:
            history.close()


def test_a_full_history_is_cut_below_its_count_by_a_fiftieth_oldest_first(
    tmp_path: Path, entry: ThingEntry
) -> None:
    runner = runner_in(tmp_path, history_max_count=100)
    try:
        ids = [finish(invoke(runner, entry, "quick", {"n": n}))["id"] for n in range(100)]
        assert len(runner.page(limit=1000).records) == 100  # at the bound: nothing goes
        ids.append(finish(invoke(runner, entry, "quick", {"n": 100}))["id"])
        kept = [record["id"] for record in runner.page(limit=1000).records]
        assert kept == list(reversed(ids[3:]))  # 101 finished, cut to 98: the oldest 3 went
        for n in range(101, 103):  # room again: kept until the count passes the bound
            ids.append(finish(invoke(runner, entry, "quick", {"n": n}))["id"])
        assert len(runner.page(limit=1000).records) == 100
    finally:
        runner.close()


def test_a_large_output_is_a_blob_served_by_link_and_goes_with_its_record(
    tmp_path: Path, entry: ThingEntry
) -> None:
    runner = runner_in(tmp_path, blob_threshold=1000, history_max_count=1)
    try:
        record = finish(invoke(runner, entry, "spectrum", {"points": 1000}))
        assert record["output"] is None
        assert record["outputMediaType"] == "application/json"
        found = runner.output_file(record["id"])
        assert found is not None
        path, media_type = found
        assert media_type == "application/json"
        assert json.loads(path.read_bytes()) == [0.5] * 1000
        small = finish(invoke(runner, entry, "spectrum", {"points": 3}))
        assert small["output"] == [0.5, 0.5, 0.5] and small["outputMediaType"] is None
        wait_until(lambda: not path.exists())  # evicted with its record, once copied
    finally:
        runner.close()


def test_a_blob_written_as_the_server_died_goes_at_reopening(
    tmp_path: Path, entry: ThingEntry
) -> None:
    runner = runner_in(tmp_path)
    running = invoke(runner, entry, "slow", {})
    wait_until(lambda: running.status.value == "running")
    orphan = tmp_path / "blobs" / running.id  # its output was being stored as it died
    orphan.parent.mkdir(exist_ok=True)
    orphan.write_bytes(b"half a spectrum")
    reopened = runner_in(tmp_path)
    try:
        assert reopened.get(running.id).snapshot()["error"]["type"].endswith("interrupted")
        assert not orphan.exists()
    finally:
        reopened.close()
        running.cancel()
        runner.shutdown(WAIT)
        runner.close()


def test_a_binary_output_is_kept_with_its_media_type(tmp_path: Path, entry: ThingEntry) -> None:
    runner = runner_in(tmp_path)
    try:
        record = finish(invoke(runner, entry, "picture", {}))
        assert record["status"] == "completed"
        assert (record["output"], record["outputMediaType"]) == (None, "image/png")
        found = runner.output_file(record["id"])
        assert found is not None and found[0].read_bytes() == b"\x89PNG fake"
    finally:
        runner.close()


def test_an_in_memory_history_behaves_the_same(entry: ThingEntry) -> None:
    runner = TaskRunner(Settings(blob_threshold=100))
    try:
        record = finish(invoke(runner, entry, "spectrum", {"points": 100}))
        found = runner.output_file(record["id"])
        assert found is not None and found[0].exists()
        folder = found[0].parent
    finally:
        runner.close()
    assert not folder.exists()  # the temporary blob folder goes with the runner


def test_the_final_record_is_stored_before_anyone_is_told(
    tmp_path: Path, entry: ThingEntry
) -> None:
    runner = runner_in(tmp_path)
    log = tmp_path / (STATE_FILE + LOG_SUFFIX)
    seen: list[dict[str, Any] | None] = []
    original = runner._changed

    def listener(task: Any, kind: str, data: dict[str, Any]) -> None:
        if kind == "record":  # what a restart would read, were the process killed now
            final = log_module.final_of(log_module.parse(log.read_bytes()).get(task.seq, ""))
            seen.append(None if final is None else json.loads(final.text))
        original(task, kind, data)

    runner._changed = listener  # type: ignore[method-assign]
    try:
        record = finish(invoke(runner, entry, "quick", {"n": 7}))
        wait_until(lambda: bool(seen))
        assert seen == [record]
    finally:
        runner.close()
