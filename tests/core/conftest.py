"""Fixtures for the tests of the core: task runners and gates for blocking actions."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from core_helpers import WAIT, Gates

from labthings.core.settings import Settings
from labthings.core.tasks.runner import TaskRunner


@pytest.fixture
def gates() -> Iterator[Gates]:
    """Events for actions to block on; every gate is opened at teardown."""
    opened = Gates()
    yield opened
    opened.open_all()


@pytest.fixture
def make_runner(gates: Gates) -> Iterator[Callable[..., TaskRunner]]:
    """Build TaskRunners from Settings keywords; each is shut down at teardown."""
    made: list[TaskRunner] = []

    def make(clock: Callable[[], float] = time.time, **settings: Any) -> TaskRunner:
        runner = TaskRunner(Settings(**settings), clock=clock)
        made.append(runner)
        return runner

    yield make
    gates.open_all()
    for runner in made:
        runner.shutdown(WAIT)


@pytest.fixture
def runner(make_runner: Callable[..., TaskRunner]) -> TaskRunner:
    """A TaskRunner with default settings, shut down at teardown."""
    return make_runner()
