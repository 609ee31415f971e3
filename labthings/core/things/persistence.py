"""Values of properties declared `persist=True`, kept in SQLite across restarts.

Every assignment of such a property (over HTTP or from the Thing's own code) is saved
at once; when the server starts, saved values are restored before the Thing's
`__enter__`, each checked against the property's current declaration.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from labthings.core.database import open_database
from labthings.core.jsonvalues import json_text

__all__ = ["STATE_FILE", "PropertyStore"]

STATE_FILE = "labthings.sqlite3"
"""The database file in a data folder: the history and the saved property values."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS properties (
    thing TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (thing, name)
);
"""


class PropertyStore:
    """Saved property values by Thing and property name (JSON); thread-safe."""

    def __init__(self, path: Path | None) -> None:
        """Open the store at `path` (created if needed), or in memory for None."""
        self._lock = threading.Lock()
        self._db = open_database(path, _SCHEMA)

    def save(self, thing: str, name: str, value: Any) -> None:
        """Save the JSON value of `thing`'s property `name` (durable when this returns)."""
        with self._lock:
            self._db.execute(
                "INSERT INTO properties (thing, name, value) VALUES (?, ?, ?)"
                " ON CONFLICT (thing, name) DO UPDATE SET value = excluded.value",
                (thing, name, json_text(value)),
            )

    def load(self, thing: str) -> dict[str, Any]:
        """The saved values of `thing`'s properties, by name."""
        with self._lock:
            rows = self._db.execute(
                "SELECT name, value FROM properties WHERE thing = ?", (thing,)
            ).fetchall()
        return {name: json.loads(value) for name, value in rows}

    def close(self) -> None:
        """Close the database (idempotent)."""
        with self._lock:
            self._db.close()
