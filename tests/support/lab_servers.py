"""Several served test labs at once, for the tests of `labthings.client.Lab` and of the
command line over several servers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from client_support import CLIENT_LAB
from served import ServedLab

from labthings.client import Update


@contextmanager
def served_labs(count: int, target: str = CLIENT_LAB) -> Iterator[list[ServedLab]]:
    """`count` servers of `target` (the client's test lab), each on its own loopback port
    and without a history, all stopped at the end."""
    labs: list[ServedLab] = []
    try:
        for _ in range(count):
            labs.append(ServedLab(target, extra=["--ephemeral"]))
        yield labs
    finally:
        for lab in labs:
            lab.stop()


def by_member(updates: list[tuple[str, Update]]) -> dict[str, list[Update]]:
    """The merged updates of a group, sorted out by member (each in the order it came)."""
    sorted_out: dict[str, list[Update]] = {}
    for which, update in updates:
        sorted_out.setdefault(which, []).append(update)
    return sorted_out


def progresses(updates: list[Update]) -> list[Any]:
    """The progress of each update that reports one."""
    return [update.progress for update in updates if update.progress is not None]
