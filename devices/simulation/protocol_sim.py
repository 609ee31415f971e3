"""pyserial's handler for `sim://` URLs: a serial port whose far end is a Simulator.

pyserial finds this module through `serial.protocol_handler_packages` (importing
`devices.transport`, as every driver does, registers it), so
`serial.serial_for_url("sim://stage")` works anywhere a real port name would.
"""

from __future__ import annotations

from typing import Any

from serial.serialutil import PortNotOpenError, SerialBase, SerialException

from devices.simulation import Session, Simulator, simulator_for_url

__all__ = ["Serial"]


class Serial(SerialBase):
    """A serial port connected to a simulator (`sim://KIND` or `sim://KIND/ID`).

    The simulator is chosen at the first `open()`; reopening the port reaches the same
    one, as reopening a real port reaches the same instrument.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.simulator: Simulator | None = None
        self._session: Session | None = None
        super().__init__(*args, **kwargs)

    def open(self) -> None:
        if self.is_open:
            raise SerialException("port is already open")
        if self.port is None:
            raise SerialException("port must be configured before it can be used")
        if self.simulator is None:
            self.simulator = simulator_for_url(self.port)
        self._session = self.simulator.connect()
        self.is_open = True

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
        self.is_open = False

    def _link(self) -> Session:
        if not self.is_open or self._session is None:
            raise PortNotOpenError()
        return self._session

    def _reconfigure_port(self, force_update: bool = False) -> None:
        """Line settings mean nothing to a simulator."""

    @property
    def in_waiting(self) -> int:
        return self._link().waiting()

    def read(self, size: int = 1) -> bytes:
        return self._link().read(size, self.timeout)

    def write(self, data: Any) -> int:
        payload = bytes(data)
        self._link().write(payload)
        return len(payload)

    def reset_input_buffer(self) -> None:
        self._link().clear_output()

    def reset_output_buffer(self) -> None:
        self._link()
