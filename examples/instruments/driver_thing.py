"""`DriverThing`: the base of Things that serve one `devices` driver."""

from __future__ import annotations

from types import TracebackType
from typing import Generic, TypeVar

from devices.driver import Driver
from devices.errors import DeviceError, DeviceTimeoutError, DisconnectedError
from labthings import Thing, thing_property

__all__ = ["DriverThing"]

DriverT = TypeVar("DriverT", bound=Driver)


class DriverThing(Thing, Generic[DriverT]):
    """Opens its driver when the server starts, closes it (instrument made safe first) when
    the server stops, and publishes the instrument's identity.

    A driver failing while a request reads or writes a property answers as a gateway
    would: 503 (disconnected; it reconnects on the next use), 504 (no reply) or 502 (a
    bad or error reply); the message names the port and the command.
    """

    error_statuses = {DisconnectedError: 503, DeviceTimeoutError: 504, DeviceError: 502}

    def __init__(self, driver: DriverT) -> None:
        self._driver = driver

    def __enter__(self) -> DriverThing[DriverT]:
        self._driver.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._driver.close()

    @thing_property
    def identity(self) -> str:
        """The instrument's maker, model, serial number and firmware, as it reports them."""
        return self._driver.identify()
