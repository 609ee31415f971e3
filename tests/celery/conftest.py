"""Fixtures of the Celery tests: one real Redis and one real worker per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from celery_worker import Workers
from redis_server import RedisServer
from served import ROOT, SUPPORT

LOADED = [str(SUPPORT / "lab_celery.py"), str(ROOT / "examples" / "compute.py")]
"""What the workers load: the lab of the Celery tests and the example."""


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    """A Redis server on a free loopback port (installed first if we may)."""
    try:
        server = RedisServer()
    except RuntimeError as error:
        pytest.skip(str(error))
    yield server
    server.close()


@pytest.fixture(scope="module")
def workers(redis: RedisServer) -> Iterator[Workers]:
    """One worker process (one pool process) on `redis`."""
    started = Workers(redis.url, LOADED)
    yield started
    started.current.stop(timeout=5)
