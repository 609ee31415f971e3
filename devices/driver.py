"""`Driver`: the abstract base of instrument drivers. A driver *has* a `LineTransport`.

Public methods add the policy (safe shutdown before disconnecting, typed errors) and
call `_do_*` hooks, so each driver writes only what its command set needs (the template
method of python-microscope's `abc.py`). `close()` is safe to call twice. The parse
helpers turn a reply that breaks the protocol into a `ProtocolError` that names the
port, the command and the reply.
"""

from __future__ import annotations

import abc
import logging
import math
import re
from collections.abc import Callable
from dataclasses import replace
from types import TracebackType
from typing import ClassVar, TypeVar

from devices.errors import DeviceError, ProtocolError
from devices.transport import LineProtocol, LineTransport, PortSettings, SerialPort

__all__ = ["Driver"]

_logger = logging.getLogger(__name__)

_INTEGER = re.compile(r"[+-]?\d+", re.ASCII)
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_EXCERPT = 40  # characters of a reply quoted in an error message

_D = TypeVar("_D", bound="Driver")


class Driver(abc.ABC):
    """Base of a serial instrument driver.

    `port` is a pyserial URL or path (`/dev/ttyUSB0`, `COM3`, `socket://host:4001`,
    `sim://stage`) or an open pyserial port object. `cancel_check` is called before
    every command (labthings passes `raise_if_cancelled`). `timeout` overrides the
    protocol's reply timeout. A subclass must implement `_do_identify` and
    `_do_shutdown`, and may override `_do_initialise`.
    """

    protocol: ClassVar[LineProtocol] = LineProtocol()
    settings: ClassVar[PortSettings] = PortSettings()

    def __init__(
        self,
        port: str | SerialPort,
        *,
        settings: PortSettings | None = None,
        cancel_check: Callable[[], None] | None = None,
        timeout: float | None = None,
    ) -> None:
        protocol = self.protocol if timeout is None else replace(self.protocol, timeout=timeout)
        self.transport = LineTransport(
            port,
            protocol=protocol,
            settings=settings or self.settings,
            on_connect=lambda transport: self._do_initialise(),
            cancel_check=cancel_check,
        )

    def open(self) -> None:
        """Connect and initialise the instrument."""
        self.transport.open()

    def close(self) -> None:
        """Put the instrument in a safe state if connected, then disconnect. Safe twice."""
        if self.transport.connected:
            try:
                self._do_shutdown()
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

    # -- hooks -------------------------------------------------------------------------

    def _do_initialise(self) -> None:  # noqa: B027 (optional on purpose: see the docstring)
        """Set the instrument up after every (re)connection; the default does nothing.

        Optional because many instruments need no set-up, and a driver that needs it
        and lacks it fails on its first use, where a test sees it.
        """

    @abc.abstractmethod
    def _do_shutdown(self) -> None:
        """Make the instrument safe before disconnecting (output off, motion stopped).

        Abstract, unlike `_do_initialise`: a missing shutdown fails silently, leaving an
        output live after the server stops, so every driver states what "safe" means,
        even if that is nothing.
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
