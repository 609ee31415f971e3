"""The token store: tokens made at random, kept only as hashes, checked in constant time,
changes seen at once by a running server, and never opened by accident."""

from __future__ import annotations

import json
import logging
import os
import stat
import sys
import threading
import time
from pathlib import Path

import pytest

from labthings.core.access import tokens as tokens_module
from labthings.core.access.tokens import TOKENS_FILE, TokenStore, TokenStoreError

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")


@pytest.fixture
def store(tmp_path: Path) -> TokenStore:
    return TokenStore(tmp_path / "data")


def test_a_token_is_random_and_only_its_hash_is_stored(store: TokenStore) -> None:
    first = store.create("alice", "control")
    second = store.create("bob", "read")
    assert first != second
    assert first.startswith("lt_") and len(first) >= 40
    text = store.path.read_text(encoding="utf-8")
    assert first not in text and second not in text
    document = json.loads(text)
    assert document["format"] == 1
    assert [(t["name"], t["scope"]) for t in document["tokens"]] == [
        ("alice", "control"),
        ("bob", "read"),
    ]
    assert all(len(t["sha256"]) == 64 for t in document["tokens"])


def test_list_gives_names_scopes_and_times_never_hashes(store: TokenStore) -> None:
    assert store.tokens() == []
    store.create("alice", "control")
    (token,) = store.tokens()
    assert (token.name, token.scope) == ("alice", "control")
    assert token.created.endswith("+00:00")
    assert not hasattr(token, "sha256")


def test_verify_knows_its_tokens_and_nothing_else(store: TokenStore) -> None:
    control = store.create("alice", "control")
    read = store.create("bob", "read")
    alice, bob = store.verify(control), store.verify(read)
    assert alice is not None and alice.name == "alice" and alice.may_control
    assert bob is not None and bob.name == "bob" and not bob.may_control
    for wrong in ("", "lt_", control[:-1], control + "x", control.upper(), "\ud800"):
        assert store.verify(wrong) is None


def test_every_stored_digest_is_compared_even_after_a_match(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = store.create("first", "read")
    for name in ("second", "third"):
        store.create(name, "read")
    calls = []
    real = tokens_module.hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append(1)
        return real(a, b)

    monkeypatch.setattr(tokens_module.hmac, "compare_digest", counting)
    assert store.verify(first) is not None
    assert len(calls) == 3


def test_a_credential_that_passed_is_recalled_until_the_file_changes(tmp_path: Path) -> None:
    server = TokenStore(tmp_path)
    command = TokenStore(tmp_path)
    token = command.create("alice", "control")
    header = f"Bearer {token}"
    current = server.current()
    assert current.recall(header) is None
    assert current.verify("lt_wrong", remember_as="Bearer lt_wrong") is None
    assert current.recall("Bearer lt_wrong") is None  # a failure is never remembered
    assert current.verify(token, remember_as=header) is not None
    recalled = current.recall(header)
    assert recalled is not None and recalled.name == "alice"
    assert "lt_" not in repr(current)  # never shown, should a snapshot be logged
    command.revoke("alice")
    assert server.current().recall(header) is None  # a new snapshot remembers nothing
    assert server.verify(token) is None


def test_a_snapshot_remembers_a_bounded_number_of_credentials(store: TokenStore) -> None:
    token = store.create("alice", "read")
    current = store.current()
    for spaces in range(tokens_module._REMEMBERED + 10):
        assert current.verify(token, remember_as="Bearer" + " " * (spaces + 1) + token)
    assert len(current._passed) == tokens_module._REMEMBERED


def test_a_running_store_sees_new_and_revoked_tokens_at_once(tmp_path: Path) -> None:
    server = TokenStore(tmp_path)  # the server's store, kept for its whole run
    command = TokenStore(tmp_path)  # what `labthings token ...` uses
    assert not server.in_use()
    token = command.create("alice", "control")
    assert server.verify(token) is not None and server.in_use()
    command.revoke("alice")
    assert server.verify(token) is None


def test_a_change_by_another_process_is_seen_within_20_ms(tmp_path: Path) -> None:
    server = TokenStore(tmp_path)
    token = TokenStore(tmp_path).create("alice", "read")
    assert server.verify(token) is not None
    # What another process's `labthings token revoke alice` leaves behind:
    replacement = tmp_path / "replacement.json"
    replacement.write_text('{"format": 1, "tokens": []}', encoding="utf-8")
    os.replace(replacement, tmp_path / TOKENS_FILE)
    time.sleep(tokens_module._RECHECK * 2)
    assert server.verify(token) is None


def test_revoking_the_last_token_does_not_open_the_server(tmp_path: Path) -> None:
    server, command = TokenStore(tmp_path), TokenStore(tmp_path)
    command.create("alice", "read")
    assert server.in_use()
    command.revoke("alice")
    assert server.in_use()
    (tmp_path / TOKENS_FILE).unlink()
    assert server.in_use()


def test_a_required_store_is_in_use_without_a_token(tmp_path: Path) -> None:
    assert not TokenStore(tmp_path).in_use()
    store = TokenStore(tmp_path, required=True)
    assert store.in_use() and store.verify("lt_anything") is None


def test_a_broken_file_refuses_every_token_and_says_so(
    store: TokenStore, caplog: pytest.LogCaptureFixture
) -> None:
    token = store.create("alice", "control")
    assert store.verify(token) is not None
    store.path.write_text("{not json", encoding="utf-8")  # not by a store: looked at soon
    time.sleep(tokens_module._RECHECK * 2)
    with caplog.at_level(logging.ERROR):
        assert store.verify(token) is None
        assert store.verify(token) is None
    assert store.in_use()
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and str(store.path) in errors[0].getMessage()
    assert token not in caplog.text
    with pytest.raises(TokenStoreError, match="not a labthings tokens file"):
        store.tokens()
    with pytest.raises(TokenStoreError):
        store.create("bob", "read")  # never overwrites what it cannot read


def test_a_broken_file_found_at_start_refuses_everyone(tmp_path: Path) -> None:
    (tmp_path / TOKENS_FILE).write_text('{"format": 1, "tokens": [{"name": 3}]}')
    store = TokenStore(tmp_path)
    assert store.in_use() and store.verify("anything") is None


@pytest.mark.parametrize("name", ["", " alice", "alice smith", "-x", "a/b", "é", "x" * 65])
def test_names_are_short_plain_words(store: TokenStore, name: str) -> None:
    with pytest.raises(TokenStoreError, match="cannot name a token"):
        store.create(name, "read")


def test_scope_is_read_or_control(store: TokenStore) -> None:
    with pytest.raises(TokenStoreError, match="not a scope"):
        store.create("alice", "admin")


def test_a_name_is_taken_once(store: TokenStore) -> None:
    store.create("alice", "read")
    with pytest.raises(TokenStoreError, match="already a token named 'alice'"):
        store.create("alice", "control")
    assert [t.scope for t in store.tokens()] == ["read"]


def test_revoking_an_unknown_name_says_so(store: TokenStore) -> None:
    with pytest.raises(TokenStoreError, match="no token named 'bob'"):
        store.revoke("bob")


def test_revoke_returns_what_the_token_was(store: TokenStore) -> None:
    store.create("alice", "control")
    store.create("bob", "read")
    revoked = store.revoke("alice")
    assert (revoked.name, revoked.scope) == ("alice", "control")
    assert [t.name for t in store.tokens()] == ["bob"]


@posix_only
def test_the_file_and_a_new_folder_are_the_owners_only(store: TokenStore) -> None:
    store.create("alice", "read")
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.folder.stat().st_mode) == 0o700


def test_writes_replace_the_file_and_leave_nothing_behind(store: TokenStore) -> None:
    store.create("alice", "read")
    inode = store.path.stat().st_ino
    store.create("bob", "read")
    assert store.path.stat().st_ino != inode  # a new file moved into place, never rewritten
    assert sorted(p.name for p in store.folder.iterdir()) == [TOKENS_FILE]


def test_commands_at_the_same_time_take_turns(tmp_path: Path) -> None:
    errors: list[BaseException] = []

    def create(index: int) -> None:
        try:
            TokenStore(tmp_path).create(f"user{index}", "read")
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert not errors
    assert sorted(t.name for t in TokenStore(tmp_path).tokens()) == [f"user{i}" for i in range(8)]


def test_a_lock_left_behind_is_reported(store: TokenStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens_module, "_LOCK_WAIT", 0.2)
    store.folder.mkdir()
    (store.folder / (TOKENS_FILE + ".lock")).touch()
    with pytest.raises(TokenStoreError, match="delete that file"):
        store.create("alice", "read")


@posix_only
def test_a_folder_that_cannot_be_written_is_one_error(tmp_path: Path) -> None:
    folder = tmp_path / "read-only"
    folder.mkdir(mode=0o500)
    if os.access(folder, os.W_OK):
        pytest.skip("running as a user who may write anywhere (root)")
    with pytest.raises(TokenStoreError, match="cannot change"):
        TokenStore(folder).create("alice", "read")


def test_a_failed_write_keeps_the_old_file(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.create("alice", "read")
    before = store.path.read_bytes()

    def fail(source: str, target: os.PathLike[str]) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(tokens_module.os, "replace", fail)
    with pytest.raises(TokenStoreError, match="cannot change .*: disk full"):
        store.create("bob", "read")
    assert store.path.read_bytes() == before
    assert sorted(p.name for p in store.folder.iterdir()) == [TOKENS_FILE]
