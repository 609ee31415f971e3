"""Access tokens: made by `labthings token create`, checked on every request.

**What a token is.** `lt_` and 43 URL-safe characters: 32 random bytes from `secrets`.
It is printed once, when it is made, and never stored: the store keeps its name, its
scope (`read`: may read everything and open event streams; `control`: may also write
properties, start and cancel actions), when it was made, and its SHA-256.

**Why one fast hash is enough.** Slow password hashes (bcrypt, scrypt, Argon2) protect
secrets that people choose, which can be guessed one likely password after another from
a stolen hash. A token has 256 random bits: no guess from its SHA-256 is likelier than
any other, so a slow hash would add nothing but about 100 ms to every request. A stolen
tokens file lets nobody in.

**The file.** `<data dir>/tokens.json`, JSON::

    {"format": 1,
     "tokens": [{"name": "alice", "scope": "control",
                 "created": "2025-05-01T09:30:00+00:00", "sha256": "<64 hex digits>"}]}

Changes are written to a temporary file in the same folder, then moved over the old one
with `os.replace`, so a reader sees the old file or the new one, never half of one. The
file is readable by its owner only where the OS has POSIX modes (0600); on Windows it
lives in the user's own profile. Two `labthings token` commands at once take turns
through a lock file beside it.

**Checking.** `verify` hashes the token it is given and compares that digest with every
stored one with `hmac.compare_digest` (all of them, without stopping at a match), so how
long a check takes says nothing about the stored tokens. A credential that passed is
remembered by the snapshot of the file it passed against (`Tokens.recall`), so that the
same header on later requests costs a dictionary look-up. A running server sees a new or
revoked token at once: a check stats the file if it has not done so in the last 20 ms,
and re-reads it only when its inode, size or modification time changed. (A `stat` on
every request cost a fifth of a property GET, syscalls being dear in a virtual machine;
every 20 ms it costs nothing measurable, and no command can revoke a token and reach the
server in less.) A change made through this process is seen at the very next check.

**Never open by accident.** Once a store has seen a token it stays `in_use` for the rest
of the process: revoking the last token, deleting the file or breaking it (an error is
logged) refuses everyone until the server restarts; it never opens the server.

Nothing here logs a token, and nothing here imports Flask.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from labthings.core.datadir import ensure_private_dir
from labthings.core.errors import LabThingsError

__all__ = ["SCOPES", "TOKENS_FILE", "Token", "TokenStore", "TokenStoreError", "Tokens"]

SCOPES = ("read", "control")
"""`read` may use GET, HEAD and OPTIONS on every route; `control` may also PUT, POST, DELETE."""
TOKENS_FILE = "tokens.json"
_FORMAT = 1
_PREFIX = "lt_"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}\Z")
_LOCK_WAIT = 5.0
_RETRY = 0.05
_RECHECK = 0.02
"""Seconds during which a check trusts its last look at the file."""
_REMEMBERED = 64
"""Credentials a snapshot remembers as passed: a few per token (a client may space its
header differently), and no more than that however many variants a client sends."""
_WRITES: dict[str, int] = {}
"""How many times this process has written each tokens file (by path): a store that has
not seen the latest write looks at the file at once."""
_logger = logging.getLogger(__name__)


class TokenStoreError(LabThingsError):
    """The tokens file cannot be read or changed, or a name is wrong; says which and why."""


@dataclass(frozen=True)
class Token:
    """What is known of a token besides its secret: name, scope, time made (ISO 8601)."""

    name: str
    scope: str
    created: str

    @property
    def may_control(self) -> bool:
        """Whether it may write properties, start and cancel actions (scope `control`)."""
        return self.scope == "control"


_Signature = tuple[int, int, int, int] | None


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


@dataclass(frozen=True)
class Tokens:
    """The tokens of a store as they stand: what one request is checked against."""

    entries: tuple[tuple[bytes, Token], ...]
    """Each token's SHA-256 digest, and what is known of it."""
    in_use: bool
    """Whether requests need a token: the store has had one since the process began."""
    _passed: dict[str, Token] = field(default_factory=dict, compare=False, repr=False)
    """Credentials that passed `verify` (see `recall`); goes with this snapshot."""

    def verify(self, token: str, *, remember_as: str | None = None) -> Token | None:
        """The token's name and scope if it is one of these, else None (constant time).

        With `remember_as`, a token that passes is remembered under that credential (the
        request's whole `Authorization` header, say) for `recall`."""
        digest = _digest(token)
        found = None
        for stored, info in self.entries:
            if hmac.compare_digest(stored, digest):
                found = info
        if found is not None and remember_as is not None and len(self._passed) < _REMEMBERED:
            self._passed[remember_as] = found
        return found

    def recall(self, credential: str) -> Token | None:
        """The token a credential that passed `verify` stands for, or None: a dictionary
        look-up, where hashing and comparing with every stored digest cost a served
        property GET a fifth of its speed. A change to the file makes a new snapshot,
        which remembers nothing, so a revoked token is refused at once.

        Only credentials that passed are kept, at most `_REMEMBERED` per snapshot; they
        are held in this process's memory (which sees every request's header anyway)
        and never written or logged. A guess costs the look-up of its hash; strings are
        compared only when its 64-bit hash equals a remembered one's, which nobody can
        aim for without knowing that credential, so the time taken tells nothing."""
        return self._passed.get(credential)


class TokenStore:
    """The tokens of one data folder: create, list and revoke them, and check one.

    Safe to use from many threads; several processes may share the folder.
    """

    def __init__(self, folder: str | os.PathLike[str], *, required: bool = False) -> None:
        """The store of `folder`; with `required`, it is `in_use` from the start (a server
        listening beyond this PC needs a token even if the last one is revoked before
        its first request)."""
        self.folder = Path(folder)
        self.path = self.folder / TOKENS_FILE
        self._path = os.fspath(self.path)  # os.stat takes a str a little faster
        self._loaded: tuple[_Signature, Tokens] = (None, Tokens((), in_use=required))
        self._looked: tuple[float, int] = (-_RECHECK, -1)  # when, and _WRITES then

    # --- checking, on every request ---

    def current(self) -> Tokens:
        """The tokens now: the file is re-read only if it changed since it was last read
        (looked at no more than every 20 ms, and at once after a write by this process)."""
        now, writes = time.monotonic(), _WRITES.get(self._path, 0)
        looked, writes_then = self._looked
        if now - looked < _RECHECK and writes == writes_then:
            return self._loaded[1]
        self._looked = (now, writes)
        signature = self._signature()
        loaded_signature, tokens = self._loaded
        if signature != loaded_signature:
            tokens = self._load(signature, was_in_use=tokens.in_use)
            self._loaded = (signature, tokens)
        return tokens

    def verify(self, token: str) -> Token | None:
        """The token's name and scope if it is a current token, else None (constant time)."""
        return self.current().verify(token)

    def in_use(self) -> bool:
        """Whether requests need a token: this store has had one since the process began."""
        return self.current().in_use

    def _signature(self) -> _Signature:
        try:
            status = os.stat(self._path)
        except FileNotFoundError:
            return None
        except OSError:
            return (-1, -1, -1, -1)  # unreadable: _load says so once
        return (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)

    def _load(self, signature: _Signature, was_in_use: bool) -> Tokens:
        if signature is None:
            return Tokens((), was_in_use)
        try:
            records = self._read()
        except TokenStoreError as error:
            _logger.error("%s; every token is refused until it is fixed", error)
            return Tokens((), in_use=True)  # a tokens file was meant to be here: fail closed
        entries = tuple((bytes.fromhex(r["sha256"]), _token(r)) for r in records)
        return Tokens(entries, in_use=was_in_use or bool(entries))

    # --- managing, from the command line ---

    def tokens(self) -> list[Token]:
        """Every token, oldest first. Raises TokenStoreError if the file is broken."""
        return [_token(record) for record in self._read()]

    def create(self, name: str, scope: str) -> str:
        """Make a token called `name` with `scope`, store its hash, and return the token.

        Raises TokenStoreError for a bad name or scope or a name already taken.
        """
        if not _NAME.match(name):
            raise TokenStoreError(
                f"{name!r} cannot name a token: use 1 to 64 letters, digits and . _ @ -, "
                "starting with a letter or digit"
            )
        if scope not in SCOPES:
            raise TokenStoreError(f"{scope!r} is not a scope; use one of {', '.join(SCOPES)}")
        token = _PREFIX + secrets.token_urlsafe(32)
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self._changing() as records:
            if any(record["name"] == name for record in records):
                raise TokenStoreError(
                    f"there is already a token named {name!r} in {self.path}; "
                    "revoke it first or choose another name"
                )
            digest = _digest(token).hex()
            records.append({"name": name, "scope": scope, "created": created, "sha256": digest})
        return token

    def revoke(self, name: str) -> Token:
        """Delete the token called `name`; returns what it was. TokenStoreError if none."""
        with self._changing() as records:
            named = [record for record in records if record["name"] == name]
            if not named:
                raise TokenStoreError(f"there is no token named {name!r} in {self.path}")
            records.remove(named[0])
        return _token(named[0])

    def _read(self) -> list[dict[str, Any]]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except OSError as error:
            raise TokenStoreError(f"cannot read {self.path}: {error.strerror}") from None
        try:
            document = json.loads(text)
            records = document["tokens"]
            if document.get("format") != _FORMAT or not isinstance(records, list):
                raise ValueError("unknown format")
            for record in records:
                bytes.fromhex(record["sha256"])
                _token(record)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise TokenStoreError(f"{self.path} is not a labthings tokens file ({error})") from None
        return list(records)

    @contextlib.contextmanager
    def _changing(self) -> Iterator[list[dict[str, Any]]]:
        """The records, to change in place; written back (atomically) if no error. Raises
        TokenStoreError if the folder or file cannot be written."""
        try:
            ensure_private_dir(self.folder)
            with self._lock():
                records = self._read()
                yield records
                self._write(records)
        except OSError as error:
            raise TokenStoreError(f"cannot change {self.path}: {error.strerror or error}") from None

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        lock = self.path.with_name(TOKENS_FILE + ".lock")
        deadline = time.monotonic() + _LOCK_WAIT
        while True:
            try:
                os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
                break
            except FileExistsError:
                if time.monotonic() > deadline:
                    raise TokenStoreError(
                        f"{lock} is held by another `labthings token` command; if none is "
                        "running, one was stopped halfway: delete that file"
                    ) from None
                time.sleep(_RETRY)
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)

    def _write(self, records: list[dict[str, Any]]) -> None:
        text = json.dumps({"format": _FORMAT, "tokens": records}, indent=2) + "\n"
        # mkstemp makes the file readable by its owner only (0600 on POSIX).
        handle, temporary = tempfile.mkstemp(prefix=".tokens-", suffix=".tmp", dir=self.folder)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(text)
                file.flush()
                os.fsync(file.fileno())
            _replace(temporary, self.path)
            _WRITES[self._path] = _WRITES.get(self._path, 0) + 1
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def _token(record: dict[str, Any]) -> Token:
    name, scope, created = record["name"], record["scope"], record["created"]
    if not (isinstance(name, str) and scope in SCOPES and isinstance(created, str)):
        raise ValueError(f"a bad token entry {name!r}")
    return Token(name=name, scope=scope, created=created)


def _replace(source: str, target: Path) -> None:
    """os.replace, retried briefly on Windows, where a reader holding the file blocks it."""
    deadline = time.monotonic() + _LOCK_WAIT
    while True:
        try:
            os.replace(source, target)
            return
        except PermissionError:
            if sys.platform != "win32" or time.monotonic() > deadline:
                raise
            time.sleep(_RETRY)
