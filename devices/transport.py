"""`LineTransport`: a line-based command/reply connection over a pyserial port.

A driver *has* a transport. The transport opens the port from a pyserial port object or
URL (`/dev/ttyUSB0`, `COM3`, `loop://`, `socket://host:port`, `sim://stage`), frames
commands and replies with terminators, holds the port lock across each write and read,
clears stale input before every command, and turns every failure into a typed
`DeviceError` that names the command and the port.

A reply that fails (no reply, or an incomplete one) may still arrive late. So the next
query first resynchronises the link: by default it discards whatever arrives until the
line has been quiet for the protocol's `settle` time (`drain()`), or it runs the
driver's own resync. A late reply is therefore never read as the answer to another
command.

After an unplug it reports itself disconnected; the next use reopens the same port
object (waiting with exponential back-off between failed attempts) and re-runs the
driver's initialisation. Before each command it calls a cancel check, so a cancelled
task stops at the next command; commands that make an instrument safe skip the check
and the back-off (`cancellable=False` or `uncancellable()`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
_DRAIN_ROUNDS = 10  # a drain gives up on a line still busy after this many settle times

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
    settle: float | None = None
    """After a failed reply, the next query first discards input until the line has been
    quiet this many seconds (at most ten times as long in all); None: `timeout`. A reply
    later than that is beyond a drain: lengthen the timeout or give the driver a resync."""

    @property
    def settle_time(self) -> float:
        """`settle`, or `timeout` when it is None."""
        return self.timeout if self.settle is None else self.settle


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

    `port` is a URL/path or a pyserial port object. A URL is opened once with
    `serial.serial_for_url`; that port object, like a given one, is reopened after a
    disconnect, so a reconnection reaches the same device (for `sim://KIND`, the same
    simulator). `on_connect(transport)` runs after every (re)connection, never
    cancelled, e.g. to identify the instrument and set it up. `on_resync(transport)`
    runs before the first query after a failed reply (None: `drain()`). `cancel_check()`
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
        on_resync: Callable[[LineTransport], None] | None = None,
        cancel_check: Callable[[], None] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.protocol = protocol or LineProtocol()
        self.settings = settings or PortSettings()
        self.on_connect = on_connect
        self.on_resync = on_resync
        self.cancel_check = cancel_check
        self._backoff = backoff or Backoff()
        self._lock = threading.RLock()
        self._uncancellable = threading.local()  # per thread: how deep in `uncancellable()`
        self._device: SerialPort | None = None if isinstance(port, str) else port
        self._url = port if isinstance(port, str) else str(port.port or port)
        self._port: SerialPort | None = None
        self._connected = False
        self._in_use = False
        self._closed = False
        self._unsettled = False  # a reply failed: resynchronise before the next query
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

    @property
    def in_use(self) -> bool:
        """True from the first connection until `close()`, also while the link is down
        (the next command reconnects)."""
        return self._in_use

    def open(self) -> None:
        """Open the port and run `on_connect`; raises DisconnectedError if it cannot."""
        with self._lock:
            self._closed = False
            self._next_attempt = 0.0
            self._ensure_connected(urgent=False)

    def close(self) -> None:
        """Close the port; safe to call twice. A later `open()` or use reopens it."""
        with self._lock:
            self._drop_port()
            self._closed = True
            self._in_use = False

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

    @contextmanager
    def uncancellable(self) -> Iterator[None]:
        """Within the block, this thread's commands skip the cancel check and the
        reconnection back-off, as with `cancellable=False`: for commands that make an
        instrument safe, which must be sent even while their task is being cancelled."""
        depth = getattr(self._uncancellable, "depth", 0)
        self._uncancellable.depth = depth + 1
        try:
            yield
        finally:
            self._uncancellable.depth = depth

    # -- commands ----------------------------------------------------------------------

    def query(self, command: str, timeout: float | None = None, *, cancellable: bool = True) -> str:
        """Send `command` and return its reply line (without the terminator).

        Holds the port lock across write and read, resynchronises first if an earlier
        reply failed, and discards stale input. Raises DeviceTimeoutError (no reply),
        ProtocolError (unterminated or undecodable reply) or DisconnectedError. With
        `cancellable=False` the cancel check and the back-off are skipped (see
        `uncancellable()`).
        """
        reply = self._exchange(command, timeout, cancellable, expect_reply=True)
        assert reply is not None
        return reply

    def write(self, command: str, *, cancellable: bool = True) -> None:
        """Send a command that has no reply (no resync needed: it reads nothing)."""
        self._exchange(command, None, cancellable, expect_reply=False)

    def drain(self, quiet: float | None = None) -> int:
        """Discard input until none has arrived for `quiet` seconds (None: the
        protocol's settle time), giving up after ten times that; the bytes discarded.

        The default resync after a failed reply; a driver's own resync may call it too.
        """
        wait = self.protocol.settle_time if quiet is None else quiet
        with self._lock:
            port = self._ensure_connected(urgent=False)
            try:
                return self._drain(port, wait)
            except (serial.SerialException, OSError) as error:
                self._drop_port()
                raise DisconnectedError(f"connection lost ({error})", port=self.name) from None

    def _exchange(
        self, command: str, timeout: float | None, cancellable: bool, *, expect_reply: bool
    ) -> str | None:
        urgent = not cancellable or getattr(self._uncancellable, "depth", 0) > 0
        if not urgent and self.cancel_check is not None:
            self.cancel_check()
        wait = self.protocol.timeout if timeout is None else timeout
        with self._lock:
            port = self._ensure_connected(urgent)
            if expect_reply and self._unsettled:
                self._resync()
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

    def _resync(self) -> None:
        """Run the resync (never cancelled: it belongs to the query that needs it). Lock
        held. Cleared first, so that a resync that queries does not recurse; a resync
        that fails leaves the link to be resynchronised again before the next query."""
        self._unsettled = False
        with self.uncancellable():
            if self.on_resync is not None:
                self.on_resync(self)
            else:
                self.drain()

    def _read_line(self, port: SerialPort, command: str, wait: float) -> bytes:
        """Bytes up to the read terminator; typed errors on timeout or overflow."""
        deadline = time.monotonic() + wait
        buffer = bytearray()
        searched = 0  # where to resume looking for the terminator
        while True:
            end = buffer.find(self._read_end, searched)
            if end > _MAX_LINE or (end < 0 and len(buffer) > _MAX_LINE):
                self._unsettled = True  # the rest of the line is still coming
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
        self._unsettled = True  # the reply, or the rest of it, may still arrive
        if not buffer:
            raise DeviceTimeoutError(f"no reply within {wait:g} s", **self._at(command))
        raise ProtocolError(
            f"incomplete reply {bytes(buffer)!r}: no terminator "
            f"{self._read_end!r} within {wait:g} s",
            **self._at(command),
        )

    def _drain(self, port: SerialPort, quiet: float) -> int:
        """Read and discard until `quiet` seconds pass without a byte (bounded). Lock held."""
        give_up = time.monotonic() + quiet * _DRAIN_ROUNDS
        quiet_until = time.monotonic() + quiet
        discarded = 0
        while (now := time.monotonic()) < quiet_until and now < give_up:
            port.timeout = min(quiet_until, give_up) - now
            chunk = port.read(max(1, port.in_waiting))
            if chunk:
                discarded += len(chunk)
                quiet_until = time.monotonic() + quiet
        return discarded

    # -- connection --------------------------------------------------------------------

    def _ensure_connected(self, urgent: bool) -> SerialPort:
        """The open port, reconnecting if it was lost: at once if `urgent`, otherwise
        not before the back-off allows (urgent attempts neither wait for the back-off
        nor lengthen it). Lock held."""
        if self._connected and self._port is not None:
            return self._port
        if self._closed:
            raise DisconnectedError("the transport is closed; call open() first", port=self.name)
        now = time.monotonic()
        if now < self._next_attempt and not urgent:
            raise DisconnectedError(
                f"disconnected; next reconnection attempt in {self._next_attempt - now:.1f} s",
                port=self.name,
            )
        try:
            self._port = self._open_port()
        except (serial.SerialException, OSError, ValueError) as error:
            self._failed_attempt(urgent)
            raise DisconnectedError(f"cannot open the port ({error})", port=self.name) from None
        self._connected = True
        if self.on_connect is not None:
            try:
                with self.uncancellable():  # a half-initialised instrument helps nobody
                    self.on_connect(self)
            except DeviceError:
                self._failed_attempt(urgent)
                raise
            except BaseException:
                self._drop_port()  # e.g. interrupted: set up again on the next use
                raise
        self._in_use = True
        self._delay = self._backoff.first
        self._next_attempt = 0.0
        return self._port

    def _open_port(self) -> SerialPort:
        """The port object, made once from the URL, opened."""
        if self._device is None:
            settings = self.settings
            self._device = cast(
                SerialPort,
                serial.serial_for_url(
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
                ),
            )
        if not self._device.is_open:
            self._device.open()
        return self._device

    def _failed_attempt(self, urgent: bool) -> None:
        self._drop_port()
        if not urgent:
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
