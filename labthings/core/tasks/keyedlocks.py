"""`KeyedLocks`: one lock per key, so that requests about the same thing run one at a time
while requests about different things never wait for each other.

A lock exists only while someone holds it or waits for it, so the keys seen over a
server's life (every Idempotency-Key, every input) cost no memory once they are done.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["KeyedLocks"]

K = TypeVar("K", bound=Hashable)


@dataclass
class _Entry:
    lock: threading.Lock = field(default_factory=threading.Lock)
    users: int = 0
    """Holders and waiters: the entry goes when the last of them leaves."""


class KeyedLocks(Generic[K]):
    """Mutual exclusion per key; thread-safe."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._entries: dict[K, _Entry] = {}

    @contextmanager
    def hold(self, key: K, timeout: float, busy: Callable[[], Exception]) -> Iterator[None]:
        """Hold the lock of `key` for the `with` block; raise `busy()` if it cannot be had
        within `timeout` seconds (the block does not run)."""
        with self._guard:
            entry = self._entries.setdefault(key, _Entry())
            entry.users += 1
        try:
            if not entry.lock.acquire(timeout=timeout):
                raise busy()
            try:
                yield
            finally:
                entry.lock.release()
        finally:
            with self._guard:
                entry.users -= 1
                if entry.users == 0:
                    del self._entries[key]

    def __len__(self) -> int:
        """How many keys are held or waited for now."""
        with self._guard:
            return len(self._entries)
