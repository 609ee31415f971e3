"""The errors of the device layer: one root, `DeviceError`, and narrow kinds beneath it.

Every error names the port and, where there was one, the command, so a message read in
a task log says which instrument did what.
"""

from __future__ import annotations

__all__ = [
    "DeviceError",
    "DeviceReportedError",
    "DeviceTimeoutError",
    "DisconnectedError",
    "ProtocolError",
]


class DeviceError(Exception):
    """Root of every error raised by `devices`."""

    def __init__(self, message: str, *, port: str, command: str | None = None) -> None:
        where = f"{port}: {command!r}: " if command is not None else f"{port}: "
        super().__init__(where + message)
        self.port = port
        self.command = command


class DeviceTimeoutError(DeviceError):
    """The instrument sent nothing back within the timeout."""


class ProtocolError(DeviceError):
    """A reply arrived but could not be understood (unterminated, undecodable, unparsable)."""


class DeviceReportedError(DeviceError):
    """The instrument itself reported an error (e.g. SCPI `SYST:ERR?`, `ERR 3`)."""


class DisconnectedError(DeviceError):
    """The port is gone (unplugged, closed); the transport reconnects on a later use."""
