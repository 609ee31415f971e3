"""Start `labthings serve` as a real subprocess on a free loopback port, and stop it."""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

SUPPORT = Path(__file__).parent
"""The folder of the test helpers, `lab_for_tests.py` among them."""
ROOT = SUPPORT.parents[1]
"""The repository."""
_SERVING = re.compile(r"serving .* on (http://127\.0\.0\.1:\d+/)")


def read_lines(stream: IO[str], lines: list[str], arrived: queue.Queue[str | None]) -> None:
    """Keep each line of a process's `stream` in `lines` and hand it to `arrived`, then
    None once the stream ends (run it in a thread)."""
    for line in stream:
        lines.append(line)
        arrived.put(line)
    arrived.put(None)


def wait_for_line(
    arrived: queue.Queue[str | None], pattern: re.Pattern[str], timeout: float
) -> re.Match[str] | None:
    """The match of `pattern` in the first line from `arrived` that has one; None if the
    stream ended, or no line came for `timeout` s."""
    try:
        while (line := arrived.get(timeout=timeout)) is not None:
            if match := pattern.search(line):
                return match
    except queue.Empty:
        pass
    return None


class ServedLab:
    """A `python -m labthings serve TARGET --port PORT [EXTRA...]` process and its URL.

    `port` 0 (the default) takes any free port; give the port of a stopped ServedLab to
    start a server again where clients knew it. Unless `extra` names a data folder
    (`--data-dir`) or none (`--ephemeral`), the server gets a fresh one of its own,
    removed by `stop()`: two servers never share one.
    """

    def __init__(
        self,
        target: str,
        env: Mapping[str, str] | None = None,
        startup_timeout: float = 20,
        extra: Sequence[str] = (),
        port: int = 0,
    ) -> None:
        self.lines: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._own_data_dir: Path | None = None
        if "--data-dir" not in extra and "--ephemeral" not in extra:
            self._own_data_dir = Path(tempfile.mkdtemp(prefix="labthings-served-"))
            extra = [*extra, "--data-dir", str(self._own_data_dir)]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "labthings", "serve", target, "--port", str(port), *extra],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.url = self._wait_for_url(startup_timeout)
        self.port = int(self.url.rsplit(":", 1)[1].rstrip("/"))

    def _read(self) -> None:
        assert self.process.stderr is not None
        read_lines(self.process.stderr, self.lines, self._lines)

    def _wait_for_url(self, timeout: float) -> str:
        if match := wait_for_line(self._lines, _SERVING, timeout):
            return match.group(1)
        self.stop()
        raise RuntimeError("the server did not start:\n" + "".join(self.lines))

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        """Send `sig`, wait (bounded, then kill) and return the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._reader.join(5)
        if self.process.stderr is not None:
            self.process.stderr.close()
        if self._own_data_dir is not None:
            shutil.rmtree(self._own_data_dir, ignore_errors=True)
        return self.process.returncode

    @property
    def output(self) -> str:
        """Everything the server has logged so far."""
        return "".join(self.lines)


def run_labthings(
    *arguments: str, env: Mapping[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """`python -m labthings ARGUMENTS...` run to its end (bounded), with its output."""
    return subprocess.run(
        [sys.executable, "-m", "labthings", *arguments],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
