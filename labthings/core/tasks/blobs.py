"""Large and binary action results, kept as files beside the history (`blobs/<id>`).

A `Blob` result, or a JSON result larger than a threshold, is stored here. The record
then holds `output: null` and `outputMediaType`, with an `output` link where clients
fetch it. A blob is deleted when its record leaves the history.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from pathlib import Path

from labthings.core.things.blob import Blob

__all__ = ["BlobStore"]


class BlobStore:
    """Blob files in a folder, one per invocation id, written atomically."""

    def __init__(self, folder: Path | None) -> None:
        """Use `folder` (created if needed), or a temporary folder, made on first use and
        removed by `close()` or when the store is garbage-collected."""
        self._folder = folder
        self._cleanup: weakref.finalize | None = None

    @property
    def folder(self) -> Path:
        """Where the blobs are (`put` makes it when it is missing)."""
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="labthings-blobs-"))
            self._cleanup = weakref.finalize(self, shutil.rmtree, self._folder, True)
        return self._folder

    def put(self, task_id: str, blob: Blob) -> int:
        """Store `blob` as the result of `task_id`; its size in bytes."""
        target = self.path(task_id)
        self.folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=".incoming-")
        try:
            with os.fdopen(handle, "wb") as file:
                if blob.data is not None:
                    file.write(blob.data)
                else:
                    assert blob.path is not None
                    with blob.path.open("rb") as source:
                        shutil.copyfileobj(source, file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return target.stat().st_size

    def path(self, task_id: str) -> Path:
        """Where the result of `task_id` is (or would be) kept."""
        return self.folder / task_id

    def remove(self, task_id: str) -> None:
        """Delete the result of `task_id`, if there is one."""
        if self._folder is not None:  # no folder yet: no blob either
            (self._folder / task_id).unlink(missing_ok=True)

    def close(self) -> None:
        """Remove a temporary folder; a data directory's folder stays."""
        if self._cleanup is not None:
            self._cleanup()
