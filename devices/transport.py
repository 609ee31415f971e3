"""`LineTransport`: a line-based command/reply connection over a pyserial port.

A driver *has* a transport. The transport opens the port from a pyserial port object or
URL (`/dev/ttyUSB0`, `COM3`, `loop://`, `socket://host:port`, `sim://stage`), frames
commands and replies with terminators, holds the port lock across each write and read,
clears stale input before every command, and turns every failure into a typed
`DeviceError` that names the command and the port.

After an unplug it reports itself disconnected; the next use reopens the port (waiting
with exponential back-off between failed attempts) and re-runs the driver's
initialisation. Between commands it calls a cancel check, so a cancelled task stops at
the next command.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, cast

import serial

from devices.errors import (
    DeviceError,
    DeviceTimeoutError,
    DisconnectedError,
    ProtocolError,
)

__all__ = ["Backoff", "LineProtocol", "LineTransport", "PortSettings", "SerialPort"]

_MAX_LINE = 1 << 20  # a reply longer than 1 MiB is a protocol error, not a reason to eat RAM

# pyserial looks for a `sim://` handler in `devices.simulation.protocol_sim` and imports it
# on first use of such a URL: naming the package here imports nothing (no import cycle).
_SIMULATOR_URLS = "devices.simulation"
if _SIMULATOR_URLS not in serial.protocol_handler_packages:
    serial.protocol_handler_packages.append(_SIMULATOR_URLS)


class SerialPort(Protocol):
    """What the transport uses of a pyserial port object."""

    is_open: bool
    timeout: float | None
    port: str | None

    def open(self) -> None: ...
    def close(self) -> None: ...
    def read(self, size: int = 1) -> bytes: ...
    def write(self, data: bytes, /) -> int | None: ...
    def reset_input_buffer(self) -> None: ...
    @property
    def in_waiting(self) -> int: ...


@dataclass(frozen=True)
class LineProtocol:
    """How commands and replies are framed and encoded."""

    write_terminator: str = "\n"
    read_terminator: str = "\n"
    encoding: str = "ascii"
    timeout: float = 1.0
    """Default seconds to wait for a reply."""


@dataclass(frozen=True)
class PortSettings:
    """Serial line settings, applied when the transport opens a port from a URL or path."""

    baudrate: int = 9600
    bytesize: int = serial.EIGHTBITS
    parity: str = serial.PARITY_NONE
    stopbits: float = serial.STOPBITS_ONE
    xonxoff: bool = False
    rtscts: bool = False
    dsrdtr: bool = False
    exclusive: bool | None = True
    """Lock the port against other processes (POSIX only; None leaves it to the OS)."""


@dataclass(frozen=True)
class Backoff:
    """Waits between reconnection attempts: `first`, doubling up to `maximum` seconds."""

    first: float = 0.2
    maximum: float = 5.0


class LineTransport:
    """A thread-safe command/reply line connection; see the module docstring.

    `port` is a URL/path (opened with `serial.serial_for_url`) or a pyserial port object
    (used as given; reopened after a disconnect). `on_connect(transport)` runs after
    every (re)connection, e.g. to identify the instrument and set it up. `cancel_check()`
    is called before each command; it should raise to stop the caller (labthings passes
    `raise_if_cancelled`).
    """

    def __init__(
        self,
        port: str | SerialPort,
        *,
        protocol: LineProtocol | None = None,
        settings: PortSettings | None = None,
        on_connect: Callable[[LineTransport], None] | None = None,
        cancel_check: Callable[[], None] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.protocol = protocol or LineProtocol()
        self.settings = settings or PortSettings()
        self.on_connect = on_connect
        self.cancel_check = cancel_check
        self._backoff = backoff or Backoff()
        self._lock = threading.RLock()
        self._given: SerialPort | None = None if isinstance(port, str) else port
        self._url = port if isinstance(port, str) else str(port.port or port)
        self._port: SerialPort | None = None
        self._connected = False
        self._closed = False
        self._next_attempt = 0.0
        self._delay = self._backoff.first
        self._write_end = self.protocol.write_terminator.encode(self.protocol.encoding)
        self._read_end = self.protocol.read_terminator.encode(self.protocol.encoding)

    # -- state -------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The port's URL or path, as used in error messages."""
        return self._url

    @property
    def connected(self) -> bool:
        """True while the port is open and has not failed."""
        return self._connected

    def open(self) -> None:
        """Open the port and run `on_connect`; raises DisconnectedError if it cannot."""
        with self._lock:
            self._closed = False
            self._next_attempt = 0.0
            self._ensure_connected()

    def close(self) -> None:
        """Close the port; safe to call twice. A later `open()` or use reopens it."""
        with self._lock:
            self._drop_port()
            self._closed = True

    def __enter__(self) -> LineTransport:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- commands ----------------------------------------------------------------------

    def query(self, command: str, timeout: float | None = None, *, cancellable: bool = True) -> str:
        """Send `command` and return its reply line (without the terminator).

        Holds the port lock across write and read and discards stale input first.
        Raises DeviceTimeoutError (no reply), ProtocolError (unterminated or undecodable
        reply) or DisconnectedError. With `cancellable=False` the cancel check is skipped
        (for stop commands sent while cancelling).
        """
        reply = self._exchange(command, timeout, cancellable, expect_reply=True)
        assert reply is not None
        return reply

    def write(self, command: str, *, cancellable: bool = True) -> None:
        """Send a command that has no reply."""
        self._exchange(command, None, cancellable, expect_reply=False)

    def _exchange(
        self, command: str, timeout: float | None, cancellable: bool, *, expect_reply: bool
    ) -> str | None:
        if cancellable and self.cancel_check is not None:
            self.cancel_check()
        wait = self.protocol.timeout if timeout is None else timeout
        with self._lock:
            port = self._ensure_connected()
            try:
                port.reset_input_buffer()
                port.write(command.encode(self.protocol.encoding) + self._write_end)
                if not expect_reply:
                    return None
                raw = self._read_line(port, command, wait)
            except (serial.SerialException, OSError) as error:
                self._drop_port()
                raise DisconnectedError(f"connection lost ({error})", **self._at(command)) from None
            except UnicodeEncodeError as error:
                raise ProtocolError(
                    f"cannot encode the command: {error}", **self._at(command)
                ) from None
        try:
            return raw.decode(self.protocol.encoding)
        except UnicodeDecodeError:
            raise ProtocolError(f"undecodable reply {raw!r}", **self._at(command)) from None

    def _read_line(self, port: SerialPort, command: str, wait: float) -> bytes:
        """Bytes up to the read terminator; typed errors on timeout or overflow."""
        deadline = time.monotonic() + wait
        buffer = bytearray()
        searched = 0  # where to resume looking for the terminator
        while True:
            end = buffer.find(self._read_end, searched)
            if end > _MAX_LINE or (end < 0 and len(buffer) > _MAX_LINE):
                raise ProtocolError(f"reply longer than {_MAX_LINE} bytes", **self._at(command))
            if end >= 0:
                # Anything after the terminator is stale; the next command clears it.
                return bytes(buffer[:end])
            searched = max(0, len(buffer) - len(self._read_end) + 1)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if port.timeout != remaining:
                port.timeout = remaining
            chunk = port.read(max(1, port.in_waiting))
            buffer += chunk
        if not buffer:
            raise DeviceTimeoutError(f"no reply within {wait:g} s", **self._at(command))
        raise ProtocolError(
            f"incomplete reply {bytes(buffer)!r}: no terminator "
            f"{self._read_end!r} within {wait:g} s",
            **self._at(command),
        )

    # -- connection --------------------------------------------------------------------

    def _ensure_connected(self) -> SerialPort:
        """The open port, reconnecting (with back-off) if it was lost. Lock held."""
        if self._connected and self._port is not None:
            return self._port
        if self._closed:
            raise DisconnectedError("the transport is closed; call open() first", port=self.name)
        now = time.monotonic()
        if now < self._next_attempt:
            raise DisconnectedError(
                f"disconnected; next reconnection attempt in {self._next_attempt - now:.1f} s",
                port=self.name,
            )
        try:
            self._port = self._open_port()
        except (serial.SerialException, OSError, ValueError) as error:
            self._failed_attempt()
            raise DisconnectedError(f"cannot open the port ({error})", port=self.name) from None
        self._connected = True
        if self.on_connect is not None:
            try:
                self.on_connect(self)
            except DeviceError:
                self._failed_attempt()
                raise
            except BaseException:
                self._drop_port()  # e.g. cancelled: set up again on the next use
                raise
        self._delay = self._backoff.first
        self._next_attempt = 0.0
        return self._port

    def _open_port(self) -> SerialPort:
        if self._given is not None:
            if not self._given.is_open:
                self._given.open()
            return self._given
        settings = self.settings
        port = serial.serial_for_url(
            self._url,
            do_not_open=True,
            baudrate=settings.baudrate,
            bytesize=settings.bytesize,
            parity=settings.parity,
            stopbits=settings.stopbits,
            xonxoff=settings.xonxoff,
            rtscts=settings.rtscts,
            dsrdtr=settings.dsrdtr,
            exclusive=settings.exclusive,
        )
        opened = cast(SerialPort, port)
        opened.open()
        return opened

    def _failed_attempt(self) -> None:
        self._drop_port()
        self._next_attempt = time.monotonic() + self._delay
        self._delay = min(self._delay * 2, self._backoff.maximum)

    def _drop_port(self) -> None:
        self._connected = False
        port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except (serial.SerialException, OSError):
                pass

    def _at(self, command: str) -> dict[str, str]:
        return {"port": self.name, "command": command}
