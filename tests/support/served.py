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

SUPPORT = Path(__file__).parent
"""The folder of the test helpers, `lab_for_tests.py` among them."""
ROOT = SUPPORT.parents[1]
"""The repository."""
_SERVING = re.compile(r"serving .* on (http://127\.0\.0\.1:\d+/)")


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
        for line in self.process.stderr:
            self.lines.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def _wait_for_url(self, timeout: float) -> str:
        try:
            while (line := self._lines.get(timeout=timeout)) is not None:
                if match := _SERVING.search(line):
                    return match.group(1)
        except queue.Empty:
            pass
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
