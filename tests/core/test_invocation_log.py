"""The invocation log: the last line of each seq not retired is read back (a first or a
final record), a line cut short is dropped without swallowing the next, the file grows
and a full disk refuses a line, and a rewrite keeps only what it is given."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from labthings.core.tasks import invocation_log as log_module
from labthings.core.tasks.invocation_log import Final, InvocationLog


def read_back(path: Path) -> dict[int, str]:
    """What a log reopened (after the server stopped) reads."""
    log = InvocationLog(path)
    try:
        return log.read()
    finally:
        log.close()


def test_started_lines_not_retired_are_read_back(tmp_path: Path) -> None:
    log = InvocationLog(tmp_path / "log")
    log.started(1, '{"id": "a"}')
    log.started(2, '{"id": "b\\tc"}')  # JSON escapes tabs and newlines
    log.started(3, '{"id": "d"}')
    log.retire([1, 3, 99])
    log.close()
    assert read_back(tmp_path / "log") == {2: '{"id": "b\\tc"}'}


def test_a_final_record_is_read_back_after_its_first(tmp_path: Path) -> None:
    log = InvocationLog(tmp_path / "log")
    log.started(1, '{"status": "pending"}')
    log.started(2, '{"status": "pending"}')
    final = Final(1764680000.25, 3, 512, '{"status": "completed", "note": "a b  c"}')
    entry = log.finished(1, final)
    log.close()
    entries = read_back(tmp_path / "log")
    assert entries == {1: entry, 2: '{"status": "pending"}'}
    assert log_module.final_of(entries[1]) == final
    assert log_module.final_of(entries[2]) is None
    with pytest.raises(ValueError, match="closed"):
        log.started(3, "{}")


def test_a_line_cut_short_is_dropped_and_does_not_swallow_the_next(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_bytes(b'1\t{"id": "a"}\n2\t{"id": "killed here')  # as the process died
    log = InvocationLog(path)
    log.started(3, '{"id": "c"}')
    log.close()
    assert read_back(path) == {1: '{"id": "a"}', 3: '{"id": "c"}'}


def test_the_log_grows_past_its_first_space_and_a_full_disk_refuses_a_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(log_module, "COMPACT_BYTES", 64)
    log = InvocationLog(tmp_path / "log")
    texts = {seq: f'{{"n": {seq}}}' for seq in range(1, 101)}  # about 1 kB of lines
    for seq, text in texts.items():
        log.started(seq, text)
    size = (tmp_path / "log").stat().st_size

    def full(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(log_module, "_allocate", full)
    with pytest.raises(OSError, match="No space"):
        for seq in range(101, 10_000):  # until the space allocated runs out
            log.started(seq, "x" * 50)
    refused = seq
    monkeypatch.undo()
    log.started(refused + 1, '{"n": "after"}')
    log.close()
    entries = read_back(tmp_path / "log")
    assert 64 < size < 4096 and refused not in entries  # it grew, doubling
    assert entries == {
        **texts,
        **{seq: "x" * 50 for seq in range(101, refused)},
        refused + 1: '{"n": "after"}',
    }


def test_a_rewrite_keeps_only_the_entries_given_and_appending_goes_on(tmp_path: Path) -> None:
    log = InvocationLog(tmp_path / "log")
    for seq in range(1, 6):
        log.started(seq, f'{{"n": {seq}}}')
    log.rewrite({4: '{"n": 4}'})
    log.started(6, '{"n": 6}')
    log.close()
    assert read_back(tmp_path / "log") == {4: '{"n": 4}', 6: '{"n": 6}'}
    assert not (tmp_path / "log.new").exists()


def test_a_rewrite_is_wanted_past_a_floor_and_four_times_the_live_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(log_module, "COMPACT_BYTES", 100)
    log = InvocationLog(tmp_path / "log")
    log.started(1, "x" * 60)
    assert not log.wants_rewrite(live_bytes=0)  # under the floor
    log.started(2, "x" * 60)
    assert log.wants_rewrite(live_bytes=0)
    assert not log.wants_rewrite(live_bytes=60)  # 4 x 60 > 126 bytes in the file
    log.close()
