"""`Driver`: the base class of instrument drivers. A driver *has* a `LineTransport`.

Public methods check their input and call `_do_*` hooks (the template method), so
each driver only writes what its command set needs. `close()` is safe to call twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from types import TracebackType
from typing import ClassVar

from devices.errors import DeviceError
from devices.transport import LineProtocol, LineTransport, PortSettings, SerialPort

__all__ = ["Driver"]

_logger = logging.getLogger(__name__)


class Driver:
    """Base of a serial instrument driver.

    `port` is a pyserial URL or path (`/dev/ttyUSB0`, `COM3`, `socket://host:4001`,
    `sim://stage`) or an open pyserial port object. `cancel_check` is called before
    every command (labthings passes `raise_if_cancelled`). `timeout` overrides the
    protocol's reply timeout. `_do_initialise` runs after every (re)connection.
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

    def __enter__(self) -> Driver:
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

    def _do_initialise(self) -> None:
        """Set the instrument up after a (re)connection; default: nothing."""

    def _do_shutdown(self) -> None:
        """Make the instrument safe before disconnecting; default: nothing."""

    def _do_identify(self) -> str:
        raise NotImplementedError
