"""Where a server keeps what outlives it (access tokens now, history next): one folder.

`--data-dir DIR` chooses it; otherwise `$LABTHINGS_DATA_DIR`, otherwise a per-user folder:
`$XDG_DATA_HOME/labthings` or `~/.local/share/labthings` on Linux and other Unixes,
`~/Library/Application Support/labthings` on macOS, `%LOCALAPPDATA%\\labthings` on
Windows. This module is the one place that decides it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "DATA_DIR_ENV",
    "DataDirInUse",
    "DataDirLock",
    "data_dir",
    "default_data_dir",
    "ensure_private_dir",
]

DATA_DIR_ENV = "LABTHINGS_DATA_DIR"
_APP = "labthings"


def default_data_dir(platform: str = sys.platform, environ: Mapping[str, str] = os.environ) -> Path:
    """The per-user data folder of `platform` (`sys.platform`'s values), not created."""
    if platform == "win32":
        base = environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / _APP
    if platform == "darwin":
        return Path.home() / "Library" / "Application Support" / _APP
    xdg = environ.get("XDG_DATA_HOME", "")
    # The XDG spec says a relative $XDG_DATA_HOME is invalid and must be ignored.
    data_home = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".local" / "share"
    return data_home / _APP


def data_dir(given: str | os.PathLike[str] | None = None) -> Path:
    """The data folder: `given` (from `--data-dir`), else `$LABTHINGS_DATA_DIR`, else the
    per-user default. Absolute, with `~` expanded; not created."""
    chosen = given if given else os.environ.get(DATA_DIR_ENV) or default_data_dir()
    return Path(chosen).expanduser().absolute()


def ensure_private_dir(folder: Path) -> None:
    """Create `folder` (and its parents) if missing; a folder created here is readable by
    its owner only where the OS has POSIX modes (0700). An existing one is left as is."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)


class DataDirInUse(Exception):
    """Another server holds the data folder; the message says which process."""


class DataDirLock:
    """Keeps a second labthings server off a data folder while this one uses it.

    An exclusive lock on `server.lock` in the folder, which the operating system drops
    when the process ends however it ends (`kill -9` included), so a stale lock never
    blocks a restart. The file holds the owner's process id, for the message.
    """

    _PID_OFFSET = 16  # the id is written past the locked byte, where Windows lets others read

    def __init__(self, folder: Path) -> None:
        """Take the lock; DataDirInUse if another process has it."""
        ensure_private_dir(folder)
        self.path = folder / "server.lock"
        self._file = self.path.open("a+b")
        try:
            _lock_byte(self._file.fileno())
        except OSError:
            self._file.seek(self._PID_OFFSET)
            owner = self._file.read(32).decode("ascii", "replace").strip() or "unknown"
            self._file.close()
            raise DataDirInUse(
                f"another labthings server (process {owner}) is using {folder}; stop it, "
                "or give this one another --data-dir"
            ) from None
        self._file.seek(self._PID_OFFSET)
        self._file.truncate()
        self._file.write(str(os.getpid()).encode("ascii"))
        self._file.flush()

    def release(self) -> None:
        """Let another server have the folder (idempotent)."""
        if not self._file.closed:
            self._file.close()  # closing drops the lock


def _lock_byte(descriptor: int) -> None:
    """Lock the file's first byte without waiting; OSError if another process has it."""
    if sys.platform == "win32":
        import msvcrt

        os.lseek(descriptor, 0, os.SEEK_SET)
        msvcrt.locking(descriptor, msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
