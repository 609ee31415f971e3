"""Helpers for the client's tests: the served lab, the `labthings` command as a user
runs it, access tokens, and bounded waits on a server's records."""

from __future__ import annotations

import fcntl
import os
import pty
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import requests
from served import SUPPORT, run_labthings

CLIENT_LAB = f"{SUPPORT / 'client_lab.py'}:make_labthing"
"""calc, slow, recorder (lab_for_tests.py) and files (client_lab.py)."""


def labthings(
    *arguments: str, env: Mapping[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`python -m labthings ARGUMENTS...` run to its end (bounded by 60 s), with its output."""
    return run_labthings(*arguments, env=env, timeout=timeout)


def create_token(folder: Path, name: str, scope: str) -> str:
    """A new token of `scope` in the data folder `folder` (`labthings token create`)."""
    result = labthings("token", "create", name, "--scope", scope, "--data-dir", str(folder))
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()[-1]


def closed_port() -> int:
    """A loopback port that nothing listens on (it was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def eventually(condition: Callable[[], Any], timeout: float = 10, what: str = "it") -> Any:
    """Poll `condition` (every 50 ms) until it returns something true, and return that;
    fail the test if it has not within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout} s")
        time.sleep(0.05)


def records(url: str, headers: Mapping[str, str] | None = None, **filters: str) -> list[Any]:
    """The server's invocation records, newest first (`GET /actions?...`)."""
    response = requests.get(f"{url}actions", params=filters, headers=headers, timeout=10)
    response.raise_for_status()
    result: list[Any] = response.json()
    return result


def record(url: str, invocation_id: str, headers: Mapping[str, str] | None = None) -> Any:
    """One invocation record as the server has it now."""
    response = requests.get(f"{url}actions/{invocation_id}", headers=headers, timeout=10)
    response.raise_for_status()
    return response.json()


class Running:
    """`python -m labthings ARGUMENTS...` running, its output lines read as they come.

    On a pseudo-terminal (`terminal=True`, 100 columns) stdout and stderr are one
    stream, `terminal_output`; otherwise they are pipes read into `stdout` and `stderr`.
    """

    def __init__(self, *arguments: str, terminal: bool = False) -> None:
        command = [sys.executable, "-m", "labthings", *arguments]
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._terminal = bytearray()
        self._lock = threading.Lock()
        if terminal:
            master, slave = pty.openpty()
            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
            self.process = subprocess.Popen(
                command, stdin=slave, stdout=slave, stderr=slave, close_fds=True
            )
            os.close(slave)
            self._readers = [threading.Thread(target=self._read_terminal, args=(master,))]
        else:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            assert self.process.stdout is not None and self.process.stderr is not None
            self._readers = [
                threading.Thread(target=self._read_lines, args=(self.process.stdout, self.stdout)),
                threading.Thread(target=self._read_lines, args=(self.process.stderr, self.stderr)),
            ]
        for reader in self._readers:
            reader.daemon = True
            reader.start()

    def _read_lines(self, stream: Any, into: list[str]) -> None:
        for line in stream:
            with self._lock:
                into.append(line)

    def _read_terminal(self, master: int) -> None:
        try:
            while True:
                try:
                    data = os.read(master, 4096)
                except OSError:  # EIO: the child side closed
                    return
                if not data:
                    return
                with self._lock:
                    self._terminal += data
        finally:
            os.close(master)

    @property
    def terminal_output(self) -> str:
        with self._lock:
            return self._terminal.decode("utf-8", errors="replace")

    def wait_for(self, stream: str, text: str, timeout: float = 20) -> str:
        """The first line of `stream` ("stdout" or "stderr") containing `text`."""

        def found() -> str | None:
            with self._lock:
                lines = list(getattr(self, stream))
            return next((line for line in lines if text in line), None)

        return str(eventually(found, timeout, what=f"{text!r} on {stream}"))

    def finish(self, timeout: float = 30) -> int:
        """Wait for the exit (killing it if it overstays) and its output; its status."""
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
            pytest.fail(f"labthings did not exit within {timeout} s")
        finally:
            for reader in self._readers:
                reader.join(5)
            for pipe in (self.process.stdout, self.process.stderr):
                if pipe is not None:
                    pipe.close()
        return int(self.process.returncode)
