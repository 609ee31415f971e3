"""`PowerSupply`: a driver for an SCPI programmable DC power supply with one output.

Sets (`VOLT 5.0000`) have no reply, so after every set the driver reads the instrument's
error queue (`SYST:ERR?`) and raises `ScpiError` (a `DeviceReportedError`) with the
instrument's code and message if the set was refused. Every reply is parsed strictly: a
reply that is not what the command promises is a `ProtocolError`.
"""

from __future__ import annotations

import math
import numbers
import re
from typing import ClassVar

from devices.driver import Driver
from devices.errors import DeviceReportedError
from devices.transport import LineProtocol

__all__ = ["PowerSupply", "ScpiError"]

_ERROR_ENTRY = re.compile(r'([+-]?\d+),"((?:[^"]|"")*)"')  # SCPI doubles quotes in strings
_SWITCH = {"1": True, "ON": True, "0": False, "OFF": False}
_OVERFLOW = 9.9e37  # SCPI's "overrange" (9.9E37) and "not a number" (9.91E37)
_MAX_QUEUED_ERRORS = 32  # the most `SYST:ERR?` reads after one set; real queues hold 10-30


class ScpiError(DeviceReportedError):
    """The instrument refused a command; `code` and `description` are its first error.

    `entries` holds every error read from the queue for that command, oldest first.
    """

    def __init__(self, entries: list[tuple[int, str]], *, port: str, command: str) -> None:
        text = "; ".join(f'{code},"{description}"' for code, description in entries)
        super().__init__(f"the instrument reported {text}", port=port, command=command)
        self.entries = entries
        self.code, self.description = entries[0]


class PowerSupply(Driver):
    """One output of an SCPI bench power supply: setpoints, output switch, measurements.

    Setpoint ranges are `max_voltage` and `max_current` (override them in a subclass
    for another model); out-of-range values raise ValueError before anything is sent.
    Opening (and every reconnection) clears the instrument's status (`*CLS`) and checks
    that it answers `*IDN?` with an IEEE 488.2 identity; closing switches the output off.
    Switching off is a safety command: nothing cancels it (see `set_output`).
    """

    protocol = LineProtocol(write_terminator="\n", read_terminator="\n", timeout=1.0)
    max_voltage: ClassVar[float] = 30.0
    max_current: ClassVar[float] = 5.0

    identity: str | None = None
    """The `*IDN?` reply read at the last (re)connection."""

    # -- setpoints -----------------------------------------------------------------------

    def set_voltage(self, volts: float) -> None:
        """Program the output voltage, in volts (0 to `max_voltage`)."""
        value = _checked("voltage", volts, self.max_voltage, "V")
        self._do_set("VOLT", f"{value:.4f}")

    @property
    def voltage(self) -> float:
        """The programmed voltage setpoint, in volts (not the measured output)."""
        return self._query_number("VOLT?")

    def set_current_limit(self, amps: float) -> None:
        """Program the current limit, in amperes (0 to `max_current`)."""
        value = _checked("current limit", amps, self.max_current, "A")
        self._do_set("CURR", f"{value:.4f}")

    @property
    def current_limit(self) -> float:
        """The programmed current limit, in amperes."""
        return self._query_number("CURR?")

    def set_output(self, on: bool) -> None:
        """Switch the output on (True) or off (False).

        Off is a safety command (`Driver._make_safe`): sent even while the caller is
        being cancelled and through a reconnection, retried for `safe_wait` seconds
        while the link is down, then sent after the next reconnection.
        """
        if not isinstance(on, bool):
            raise TypeError(f"output must be True or False, not {on!r}")
        if on:
            self._do_set("OUTP", "ON")
        else:
            self._make_safe(self._do_shutdown)

    @property
    def output(self) -> bool:
        """True while the output is switched on."""
        reply = self._query("OUTP?")
        state = _SWITCH.get(reply.strip().upper())
        if state is None:
            raise self._bad_reply("OUTP?", reply, "1 or 0")
        return state

    # -- measurements and housekeeping ---------------------------------------------------

    def measure_voltage(self) -> float:
        """The voltage measured at the output terminals, in volts."""
        return self._query_number("MEAS:VOLT?")

    def measure_current(self) -> float:
        """The current measured through the output, in amperes."""
        return self._query_number("MEAS:CURR?")

    def reset(self) -> None:
        """Restore the power-on state (`*RST`: output off, setpoints at their defaults)."""
        self._do_set("*RST", None)

    def read_errors(self) -> list[tuple[int, str]]:
        """Empty the instrument's error queue; its (code, message) entries, oldest first."""
        return self._drain_errors(cancellable=True)

    # -- hooks ---------------------------------------------------------------------------

    def _do_initialise(self) -> None:
        self.transport.write("*CLS")
        self.identity = self._read_identity()

    def _do_shutdown(self) -> None:
        self._do_set("OUTP", "OFF")

    def _do_identify(self) -> str:
        return self._read_identity()

    def _do_set(self, header: str, argument: str | None) -> None:
        """Send a set command, then raise ScpiError if the instrument queued errors for it."""
        command = header if argument is None else f"{header} {argument}"
        self.transport.write(command)
        # The check belongs to the set: never skip it for a cancellation in between.
        errors = self._drain_errors(cancellable=False)
        if errors:
            raise ScpiError(errors, port=self.transport.name, command=command)

    # -- parsing -------------------------------------------------------------------------

    def _query(self, command: str) -> str:
        """The reply to `command`; an SCPI error entry in its place raises ScpiError."""
        reply = self.transport.query(command)
        entry = _ERROR_ENTRY.fullmatch(reply.strip())
        if entry is not None and int(entry[1]) != 0:
            raise ScpiError([_error_of(entry)], port=self.transport.name, command=command)
        return reply

    def _query_number(self, command: str) -> float:
        reply = self._query(command)
        value = self._parse_float(command, reply)
        if abs(value) >= _OVERFLOW:
            raise DeviceReportedError(
                f"the instrument reports overrange ({reply.strip()})",
                port=self.transport.name,
                command=command,
            )
        return value

    def _read_identity(self) -> str:
        reply = self._query("*IDN?").strip()
        fields = reply.split(",")
        if len(fields) != 4 or not all(field.strip() for field in fields[:2]):
            raise self._bad_reply("*IDN?", reply, "maker,model,serial,firmware")
        return reply

    def _drain_errors(self, *, cancellable: bool) -> list[tuple[int, str]]:
        errors: list[tuple[int, str]] = []
        for _ in range(_MAX_QUEUED_ERRORS):
            reply = self.transport.query("SYST:ERR?", cancellable=cancellable)
            entry = _ERROR_ENTRY.fullmatch(reply.strip())
            if entry is None:
                raise self._bad_reply("SYST:ERR?", reply, 'an error entry like 0,"No error"')
            if int(entry[1]) == 0:
                break
            errors.append(_error_of(entry))
        return errors


def _error_of(entry: re.Match[str]) -> tuple[int, str]:
    """(code, message) of a matched error entry, the message's doubled quotes undone."""
    return int(entry[1]), entry[2].replace('""', '"')


def _checked(name: str, value: float, maximum: float, unit: str) -> float:
    """`value` as a float if it is a number in 0..maximum; TypeError or ValueError if not."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number of {unit}, not {value!r}")
    if not (math.isfinite(value) and 0 <= value <= maximum):
        raise ValueError(f"{name} must be between 0 and {maximum:g} {unit}, not {value!r}")
    return float(value)
