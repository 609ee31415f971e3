"""Fixtures of the client's tests over several servers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from lab_servers import served_labs
from served import ServedLab


@pytest.fixture(scope="module")
def trio() -> Iterator[list[ServedLab]]:
    """Three servers of the client's test lab, for the tests of a module."""
    with served_labs(3) as labs:
        yield labs


@pytest.fixture
def doomed() -> Iterator[ServedLab]:
    """A server of its own, for a test that kills it."""
    with served_labs(1) as labs:
        yield labs[0]
