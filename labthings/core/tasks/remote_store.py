"""Where remote jobs are kept between checks: a table beside the invocation history.

A job is written when its action hands it over and after every check, and removed once
its invocation has ended (after the final record is stored), so after a restart,
graceful or `kill -9`, every job whose invocation had not ended is found again, with
its record as of its last check. `path=None` keeps them in memory for one run.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from labthings.core.database import open_database
from labthings.core.jsonvalues import json_text

__all__ = ["Plan", "RemoteStore", "StoredJob"]

_logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS remote_jobs (
    id TEXT PRIMARY KEY,
    job TEXT NOT NULL
);
"""


@dataclass
class Plan:
    """How a job is checked, and how far it has got: JSON values, stored after each check."""

    check: str
    cancel: str | None
    state: Any
    interval: float
    """The last wait between checks; the next one grows from it."""
    factor: float
    max_interval: float
    checks: int
    due: float
    """When the next check is due, in seconds since the epoch."""
    cancelling: bool = False
    """A client asked to cancel: call the cancel method, then end `cancelled`."""


@dataclass
class StoredJob:
    """Everything needed to go on checking a job after a restart."""

    id: str
    thing: str
    plan: Plan
    version: int
    record: dict[str, Any]
    """The invocation record as of the last check (with its log)."""

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> StoredJob:
        """The job stored as `value` (TypeError or KeyError if it is not one)."""
        return cls(**{**value, "plan": Plan(**value["plan"])})


class RemoteStore:
    """Stored jobs by invocation id; thread-safe. Writes after `close` are dropped."""

    def __init__(self, path: Path | None) -> None:
        """Open (creating if needed) the store in the database at `path`, or in memory."""
        self._lock = threading.Lock()
        # Autocommit: each write is durable when it returns.
        self._db: sqlite3.Connection | None = open_database(path, _SCHEMA)

    def ids(self) -> set[str]:
        """The ids of the stored jobs."""
        with self._lock:
            if self._db is None:
                return set()
            return {row[0] for row in self._db.execute("SELECT id FROM remote_jobs")}

    def load(self) -> list[StoredJob]:
        """Every stored job (a row that cannot be read is logged and skipped)."""
        with self._lock:
            rows = [] if self._db is None else self._db.execute("SELECT job FROM remote_jobs")
            texts = [row[0] for row in rows]
        jobs = []
        for text in texts:
            try:
                jobs.append(StoredJob.from_json(json.loads(text)))
            except (TypeError, ValueError, KeyError) as error:
                _logger.error("a stored remote job cannot be read (%s); it is skipped", error)
        return jobs

    def save(self, job: StoredJob) -> None:
        """Write `job` (replacing the one with its id)."""
        text = json_text(asdict(job))
        with self._lock:
            if self._db is not None:
                self._db.execute(
                    "INSERT INTO remote_jobs (id, job) VALUES (?, ?)"
                    " ON CONFLICT (id) DO UPDATE SET job = excluded.job",
                    (job.id, text),
                )

    def remove(self, job_id: str) -> None:
        """Forget the job with this id (if there is one)."""
        with self._lock:
            if self._db is not None:
                self._db.execute("DELETE FROM remote_jobs WHERE id = ?", (job_id,))

    def close(self) -> None:
        """Close the database (idempotent)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
