"""What happens to a compute invocation when its worker dies or Redis goes away: it
ends in `error` with a problem that says so, within a bound, never `running` for ever.

The server runs with `compute_lost_after` = 2 s. The tests run in order: the last ones
stop Redis.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator

import pytest
from celery_worker import Workers
from compute_client import LabClient, messages
from redis_server import RedisServer
from served import SUPPORT, ServedLab

TARGET = f"{SUPPORT / 'lab_celery.py'}:make_labthing"
LOST_AFTER = 2
WORKER_LOST = "urn:labthings:problem:worker-lost"
UNREACHABLE = "urn:labthings:problem:compute-unreachable"


@pytest.fixture(scope="module")
def lab(redis: RedisServer, workers: Workers) -> Iterator[LabClient]:
    extra = ["--celery-broker", redis.url, "--option", f"lost_after={LOST_AFTER}"]
    served = ServedLab(TARGET, extra=extra)
    yield LabClient(served.url)
    served.stop()


def running(lab: LabClient, seconds: float = 30) -> dict[str, object]:
    """A `crawl` that a worker has started; its record."""
    started = lab.start("crawl", {"seconds": seconds})
    return lab.until(started["id"], lambda record: record["status"] == "running")


def test_a_pool_process_killed_mid_task_is_an_error_from_celery(
    redis: RedisServer, workers: Workers
) -> None:
    # Celery's main process notices within seconds: before a heartbeat bound of 30 s.
    served = ServedLab(TARGET, extra=["--celery-broker", redis.url, "--ephemeral"])
    try:
        lab = LabClient(served.url)
        record = running(lab)
        worker_line = next(line for line in messages(record) if line.startswith("run by"))
        pid = int(re.search(r"\(pid (\d+)\)", worker_line).group(1))  # type: ignore[union-attr]
        os.kill(pid, signal.SIGKILL)  # the OOM killer, say
        final = lab.final(str(record["id"]), timeout=25)
    finally:
        served.stop()
    assert final["status"] == "error"
    assert final["error"]["type"] == WORKER_LOST
    assert final["error"]["detail"].startswith("WorkerLostError: Worker exited prematurely")


def test_a_worker_killed_mid_task_is_an_error_once_its_heartbeat_stops(
    lab: LabClient, workers: Workers
) -> None:
    record = running(lab)
    workers.current.kill()  # SIGKILL to the worker and its pool: nobody reports
    final = lab.final(str(record["id"]), timeout=LOST_AFTER + 15)
    assert final["status"] == "error"
    assert final["error"]["type"] == WORKER_LOST
    assert "has sent no heartbeat" in final["error"]["detail"]
    workers.restart()
    after = lab.start("average", {"frames": [[1.0, 3.0]]}, wait=30)
    assert after["status"] == "completed" and after["output"] == [1.0, 3.0]


def test_a_result_backend_gone_mid_task_is_an_error_within_the_bound(
    lab: LabClient, redis: RedisServer
) -> None:
    record = running(lab, seconds=6)
    redis.stop()
    try:
        final = lab.final(str(record["id"]), timeout=LOST_AFTER + 15)
    finally:
        redis.start()
    assert final["status"] == "error"
    assert final["error"]["type"] == UNREACHABLE
    assert final["error"]["title"] == "The Celery result backend cannot be reached"


def test_with_the_broker_down_a_post_ends_in_error_quickly_not_a_hang(
    lab: LabClient, redis: RedisServer
) -> None:
    redis.stop()
    try:
        began = time.monotonic()
        record = lab.start("average", {"frames": [[1.0]]}, wait=25)
        took = time.monotonic() - began
    finally:
        redis.start()
    assert record["status"] == "error", record
    assert took < 20  # it ended by itself: the POST did not wait out its 25 s
    assert record["error"]["type"] == UNREACHABLE
    assert record["error"]["title"] == "The Celery broker cannot be reached"
    assert "could not send the action to the broker redis://127.0.0.1:" in record["error"]["detail"]
    back = lab.start("average", {"frames": [[2.0]]}, wait=30)  # Redis is back: so is the lab
    assert back["status"] == "completed" and back["output"] == [2.0]
