"""A real `redis-server` for the compute tests and the benchmark: Debian's package,
installed if it is missing and we may (as browser.py installs Chromium), run on a free
loopback port with no persistence, and stopped at the end."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from apt_packages import apt_install

__all__ = ["RedisServer", "ensure_redis", "free_port"]

REDIS_SERVER = "redis-server"


def ensure_redis(timeout: float = 600) -> str:
    """The path of `redis-server`, installed with apt-get if it is missing and we can
    (root on Debian); RuntimeError saying why when it still cannot be had."""
    found = shutil.which(REDIS_SERVER)
    if found:
        return found
    notes = apt_install(["redis-server"], timeout)
    found = shutil.which(REDIS_SERVER)
    if not found:
        raise RuntimeError(
            f"the compute tests need Redis (Debian's redis-server); it is missing "
            f"({notes or 'apt-get did not provide it'})"
        )
    return found


def free_port() -> int:
    """A TCP port free on the loopback interface now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """`redis-server` on 127.0.0.1 at a free port, keeping nothing on disk.

    `url` is its broker URL (database 0). `stop()` ends it (idempotent); `start()`
    starts it again on the same port, empty.
    """

    def __init__(self, startup_timeout: float = 10) -> None:
        self._binary = ensure_redis()
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._folder = Path(tempfile.mkdtemp(prefix="labthings-redis-"))
        self._timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        """Start the server (if it is not running) and wait until it answers PING."""
        if self.process is not None and self.process.poll() is None:
            return
        self.process = subprocess.Popen(
            [
                self._binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self._folder),
                "--protected-mode",
                "yes",
            ],  # fmt: skip
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + self._timeout
        while not self.ping():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.02)

    def ping(self) -> bool:
        """True if the server answers PING now."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """End the server, waiting for it (bounded, then killed)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def close(self) -> None:
        """Stop, and remove its folder."""
        self.stop()
        shutil.rmtree(self._folder, ignore_errors=True)
