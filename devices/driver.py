"""`Driver`: the abstract base of instrument drivers. A driver *has* a `LineTransport`.

Public methods add the policy (safe shutdown before disconnecting, typed errors) and
call `_do_*` hooks, so each driver writes only what its command set needs (the template
method of python-microscope's `abc.py`). `close()` is safe to call twice. Commands that
make the instrument safe go through `_make_safe`, which nothing cancels. The parse
helpers turn a reply that breaks the protocol into a `ProtocolError` that names the
port, the command and the reply.
"""

from __future__ import annotations

import abc
import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import replace
from types import TracebackType
from typing import ClassVar, TypeVar

from devices.errors import DeviceError, DisconnectedError, ProtocolError
from devices.transport import LineProtocol, LineTransport, PortSettings, SerialPort

__all__ = ["Driver"]

_logger = logging.getLogger(__name__)

_INTEGER = re.compile(r"[+-]?\d+", re.ASCII)
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_EXCERPT = 40  # characters of a reply quoted in an error message
_SAFE_RETRY = 0.1  # seconds between a safety command's attempts to reach the instrument

_D = TypeVar("_D", bound="Driver")


class Driver(abc.ABC):
    """Base of a serial instrument driver.

    `port` is a pyserial URL or path (`/dev/ttyUSB0`, `COM3`, `socket://host:4001`,
    `sim://stage`) or an open pyserial port object. `cancel_check` is called before
    every command but those that make the instrument safe (labthings passes
    `raise_if_cancelled`). `timeout` overrides the protocol's reply timeout. A subclass
    must implement `_do_identify` and `_do_shutdown`, and may override `_do_initialise`
    and `_do_resync`.
    """

    protocol: ClassVar[LineProtocol] = LineProtocol()
    settings: ClassVar[PortSettings] = PortSettings()
    safe_wait: float = 3.0
    """Seconds a safety command (`_make_safe`) keeps trying to reach an unplugged
    instrument before it gives up (and is sent after the next reconnection instead)."""

    def __init__(
        self,
        port: str | SerialPort,
        *,
        settings: PortSettings | None = None,
        cancel_check: Callable[[], None] | None = None,
        timeout: float | None = None,
    ) -> None:
        protocol = self.protocol if timeout is None else replace(self.protocol, timeout=timeout)
        self._owed: dict[Callable[[], None], None] = {}  # safety commands not yet sent, in order
        self.transport = LineTransport(
            port,
            protocol=protocol,
            settings=settings or self.settings,
            on_connect=lambda transport: self._connected(),
            on_resync=lambda transport: self._do_resync(),
            cancel_check=cancel_check,
        )

    def open(self) -> None:
        """Connect and initialise the instrument."""
        self.transport.open()

    def close(self) -> None:
        """Make the instrument safe (`_do_shutdown`), then disconnect. Safe twice.

        The shutdown is never cancelled and, if the link had dropped since the last
        command, goes through a reconnection (one attempt, no waiting); a shutdown that
        fails is logged, and sent after the next reconnection if there is one.
        """
        if self.transport.in_use:
            try:
                self._make_safe(self._do_shutdown, wait=0.0)
            except DeviceError as error:
                _logger.warning("%s did not shut down cleanly: %s", type(self).__name__, error)
        self.transport.close()

    def identify(self) -> str:
        """The instrument's identity (maker, model, serial, firmware) as it reports it."""
        return self._do_identify()

    def __enter__(self: _D) -> _D:
        """Open; the driver itself, typed as its own class (`StageController`, ...)."""
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- making the instrument safe -----------------------------------------------------

    def _make_safe(self, send: Callable[[], None], *, wait: float | None = None) -> None:
        """Run `send`, commands that make the instrument safe (stop, output off), so that
        they reach it.

        They skip the cancel check (a task being cancelled sends them) and the
        reconnection back-off; if the link had dropped they go through a reconnection,
        whose initialisation runs first. While the link of a transport in use stays
        down they are retried for `wait` seconds (None: `safe_wait`); then
        DisconnectedError, and they are sent right after the next reconnection's
        initialisation, before any other command. On a closed transport they raise
        DisconnectedError at once. `send` must be safe to repeat.
        """
        deadline = time.monotonic() + (self.safe_wait if wait is None else wait)
        found_lost = False
        with self.transport.uncancellable():
            while True:
                looked_connected = self.transport.connected
                try:
                    send()
                except DisconnectedError:
                    if looked_connected and not found_lost:
                        found_lost = True  # the link had dropped unnoticed: reconnect now
                        continue
                    if not self.transport.in_use:
                        raise  # closed, or never connected: nothing to come back to
                    if time.monotonic() >= deadline:
                        self._owed[send] = None
                        raise
                    time.sleep(_SAFE_RETRY)
                else:
                    self._owed.pop(send, None)
                    return

    def _connected(self) -> None:
        """After every (re)connection: the driver's set-up, then the safety commands
        that could not be sent while the link was down."""
        self._do_initialise()
        for send in list(self._owed):
            try:
                send()
            except DisconnectedError:
                raise  # down again: still owed
            except DeviceError as error:
                _logger.warning("%s: a safety command failed: %s", type(self).__name__, error)
            else:
                _logger.info(
                    "%s: sent a safety command owed since the link dropped", type(self).__name__
                )
            self._owed.pop(send, None)

    # -- hooks -------------------------------------------------------------------------

    def _do_initialise(self) -> None:  # noqa: B027 (optional on purpose: see the docstring)
        """Set the instrument up after every (re)connection; the default does nothing.

        Optional because many instruments need no set-up, and a driver that needs it
        and lacks it fails on its first use, where a test sees it.
        """

    def _do_resync(self) -> None:
        """Make sure no late reply is waiting, before the first query after a failed
        reply; it runs never cancelled, with the port lock held.

        The default discards input until the line has been quiet for the protocol's
        settle time (`transport.drain()`). Override it for an instrument with a surer or
        faster way, e.g. a query with a distinctive reply, read until that reply comes.
        """
        self.transport.drain()

    @abc.abstractmethod
    def _do_shutdown(self) -> None:
        """Make the instrument safe before disconnecting (output off, motion stopped).

        Abstract, unlike `_do_initialise`: a missing shutdown fails silently, leaving an
        output live after the server stops, so every driver states what "safe" means,
        even if that is nothing. It runs through `_make_safe`, so it must be safe to
        repeat; public safety commands (a stop) can call `_make_safe` with it too.
        """

    @abc.abstractmethod
    def _do_identify(self) -> str:
        """Query the instrument's identity; ProtocolError if the reply is not one."""

    # -- parsing replies ---------------------------------------------------------------

    def _protocol_error(self, command: str, message: str) -> ProtocolError:
        """A ProtocolError for the reply to `command`, naming this driver's port."""
        return ProtocolError(message, port=self.transport.name, command=command)

    def _bad_reply(self, command: str, reply: str, expected: str) -> ProtocolError:
        """A ProtocolError saying `reply` (quoted, shortened if long) is not `expected`."""
        return self._protocol_error(
            command, f"unexpected reply {_excerpt(reply)} (expected {expected})"
        )

    def _parse_int(self, command: str, reply: str, low: int, high: int) -> int:
        """`reply` as a whole number in low..high (surrounding spaces ignored), or a
        ProtocolError."""
        text = reply.strip()
        if _INTEGER.fullmatch(text) and low <= (value := int(text)) <= high:
            return value
        raise self._bad_reply(command, reply, f"a whole number from {low} to {high}")

    def _parse_float(self, command: str, reply: str) -> float:
        """`reply` as a finite decimal number (surrounding spaces ignored), or a
        ProtocolError."""
        text = reply.strip()
        if _DECIMAL.fullmatch(text) and math.isfinite(value := float(text)):
            return value
        raise self._bad_reply(command, reply, "a number")


def _excerpt(reply: str) -> str:
    """`reply` quoted for an error message, shortened if long."""
    if len(reply) <= _EXCERPT:
        return repr(reply)
    return f"{reply[:_EXCERPT]!r}... ({len(reply)} chars)"
