"""Working folders for external programs: one per invocation, kept for a while, then removed.

A server with a data folder keeps them in `<data dir>/programs/<invocation id>/`, so that
a program's inputs, outputs and status file can be inspected after it ran; one without
(`--ephemeral`) keeps them in a temporary folder removed when the server closes. A program
running in one is recorded there (see orphans.py) until its process tree has ended.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path

from labthings.core.programs.orphans import stop_left_programs

__all__ = ["PROGRAMS_FOLDER", "WorkFolders"]

PROGRAMS_FOLDER = "programs"
"""The working folders' folder in a data folder."""


class WorkFolders:
    """The working folders of one server's invocations, under one root folder.

    What is promised: an invocation's folder is never removed while `in_use(id)` says
    it is still running; a finished one's is removed once it has not changed for `keep`
    seconds (its modification time: when it was made, when a program in it ended, or
    when a file was added to or removed from it), the next time the server starts or
    another folder is made. Nothing else under the root is touched but folders.
    """

    def __init__(
        self,
        root: Path | None,
        keep: float,
        *,
        in_use: Callable[[str], bool] = lambda invocation: False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Use `root` (made when first needed), or a temporary folder made on first use
        and removed by `close()` or at exit. Stop the programs left running in `root`'s
        folders by a server that was killed (`stop_left_programs`), then prune its
        expired folders: made as a server starts, before any of its programs runs."""
        self._root = root
        self._keep = keep
        self._in_use = in_use
        self._clock = clock
        self._lock = threading.Lock()
        self._cleanup: weakref.finalize | None = None
        if root is not None and root.is_dir():
            stop_left_programs(root)
            self.prune()

    @property
    def root(self) -> Path:
        """The folder that holds the working folders (made if missing)."""
        with self._lock:
            if self._root is None:
                self._root = Path(tempfile.mkdtemp(prefix="labthings-programs-"))
                self._cleanup = weakref.finalize(self, shutil.rmtree, self._root, True)
            self._root.mkdir(mode=0o700, parents=True, exist_ok=True)
            return self._root

    def folder(self, invocation: str) -> Path:
        """The working folder of `invocation`, made (after pruning expired ones) if new."""
        folder = self.root / invocation
        if not folder.is_dir():
            self.prune()
            folder.mkdir(mode=0o700, exist_ok=True)
        return folder

    def prune(self) -> list[str]:
        """Remove the folders of finished invocations unchanged for `keep` seconds; their
        names. A folder that cannot be removed (a file still open on Windows) stays for
        the next time."""
        oldest = self._clock() - self._keep
        removed: list[str] = []
        try:
            entries = list(os.scandir(self.root))
        except OSError:
            return removed
        for entry in entries:
            try:
                if not entry.is_dir(follow_symlinks=False) or entry.stat().st_mtime > oldest:
                    continue
            except OSError:
                continue
            if self._in_use(entry.name):
                continue
            shutil.rmtree(entry.path, ignore_errors=True)
            if not os.path.exists(entry.path):
                removed.append(entry.name)
        return removed

    def close(self) -> None:
        """Remove a temporary root; a data folder's stays."""
        if self._cleanup is not None:
            self._cleanup()
