"""A real Celery worker for the compute tests and the benchmark: `labthings worker` as a
subprocess in its own process group, so that a test can kill all of it at once."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence

from served import read_lines, wait_for_line

__all__ = ["CeleryWorker", "Workers"]

_READY = re.compile(r"celery@\S+ ready\.")


class CeleryWorker:
    """`python -m labthings worker --celery-broker BROKER --pool prefork --concurrency N
    TARGET...`, started and waited for until it is ready to take tasks."""

    def __init__(
        self,
        broker: str,
        targets: Sequence[str],
        *,
        concurrency: int = 1,
        startup_timeout: float = 60,
    ) -> None:
        self.lines: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "labthings",
                "worker",
                "--celery-broker",
                broker,
                "--concurrency",
                str(concurrency),
                "--pool",
                "prefork",
                *targets,
            ],  # fmt: skip
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group: `kill` reaches its children
        )
        assert self.process.stderr is not None
        self._reader = threading.Thread(
            target=read_lines, args=(self.process.stderr, self.lines, self._lines), daemon=True
        )
        self._reader.start()
        if not wait_for_line(self._lines, _READY, startup_timeout):
            self.stop()
            raise RuntimeError("the Celery worker did not start:\n" + self.output)

    @property
    def output(self) -> str:
        """Everything the worker has logged so far."""
        return "".join(self.lines)

    def alive(self) -> bool:
        """True while the worker's main process runs."""
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes, as a crash or the OOM killer would."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # every process of the group has ended
        self.process.wait(10)
        self._reader.join(5)

    def stop(self, timeout: float = 20) -> None:
        """Stop the worker (SIGTERM: a warm shutdown), killing it if it takes too long."""
        if self.alive():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        self.kill()
        if self.process.stderr is not None:
            self.process.stderr.close()


class Workers:
    """A test module's worker (loading `targets`), which a test may kill and `restart`."""

    def __init__(self, broker: str, targets: Sequence[str]) -> None:
        self.broker = broker
        self.targets = list(targets)
        self.current = CeleryWorker(broker, self.targets)

    def restart(self) -> CeleryWorker:
        """A fresh worker in place of the current one (stopped first if alive)."""
        self.current.stop(timeout=5)
        self.current = CeleryWorker(self.broker, self.targets)
        return self.current
