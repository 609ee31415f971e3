"""Serve a simulator on a pseudo-terminal, so a driver talks to it through a real tty.

The driver opens `bridge.path` (e.g. `/dev/pts/7`) exactly as it would open
`/dev/ttyUSB0`: pyserial's POSIX backend, termios settings and all. POSIX only.
"""

from __future__ import annotations

import os
import select
import threading
import tty
from types import TracebackType

import serial

from devices.simulation import Session, Simulator

__all__ = ["PtyBridge"]

_POLL = 0.05


class PtyBridge:
    """Connects a simulator to the controlling side of a new pseudo-terminal.

    Use as a context manager or call `start()`/`stop()`; `stop()` is safe twice and
    joins both pump threads (bounded).
    """

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator
        self.path = ""
        self._controller = -1
        self._terminal = -1
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._session: Session | None = None

    def start(self) -> PtyBridge:
        """Create the pty and start pumping bytes; `path` is then ready to open."""
        self._controller, self._terminal = os.openpty()
        tty.setraw(self._terminal)  # no echo, no line editing, until the driver sets its own
        self.path = os.ttyname(self._terminal)
        session = self._session = self.simulator.connect()

        def host_to_simulator() -> None:
            while not self._stopping.is_set():
                ready, _, _ = select.select([self._controller], [], [], _POLL)
                if ready:
                    try:
                        session.write(os.read(self._controller, 4096))
                    except (OSError, serial.SerialException):
                        return

        def simulator_to_host() -> None:
            while not self._stopping.is_set():
                try:
                    data = session.read(1, _POLL)
                    if data:
                        os.write(self._controller, data + session.read(session.waiting(), 0))
                except (OSError, serial.SerialException):
                    return  # unplugged or closed

        self._threads = [
            threading.Thread(target=pump, name=f"pty-{self.simulator.id}", daemon=True)
            for pump in (host_to_simulator, simulator_to_host)
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Stop pumping and close the pty."""
        self._stopping.set()
        for thread in self._threads:
            thread.join(2)
        self._threads = []
        if self._session is not None:
            self._session.close()
            self._session = None
        for fd in (self._controller, self._terminal):
            if fd >= 0:
                os.close(fd)
        self._controller = self._terminal = -1

    def __enter__(self) -> PtyBridge:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
