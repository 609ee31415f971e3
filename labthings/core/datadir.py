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

__all__ = ["DATA_DIR_ENV", "data_dir", "default_data_dir", "ensure_private_dir"]

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
