"""`Blob`: an action result served as it is, with its media type (a PNG, a CSV file).

Annotate the action `-> Blob` and return `Blob(data, "image/png")` or
`Blob.file(path, "text/csv")`. The invocation record then has `output: null`,
`outputMediaType`, and an `output` link where clients fetch the bytes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Blob"]


@dataclass(frozen=True)
class Blob:
    """A result to be served as it is, with its media type: `Blob(png, "image/png")`, or
    `Blob.file(path, "text/csv")` for a file the action wrote (copied when stored)."""

    data: bytes | None
    media_type: str
    path: Path | None = None

    @classmethod
    def file(cls, path: str | os.PathLike[str], media_type: str) -> Blob:
        """A result read from the file at `path`."""
        return cls(None, media_type, Path(path))

    def __post_init__(self) -> None:
        if (self.data is None) == (self.path is None):
            raise ValueError("a Blob holds either data or a file path")
        if "/" not in self.media_type:
            raise ValueError(f"{self.media_type!r} is not a media type such as 'image/png'")
