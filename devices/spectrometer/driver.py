"""`Spectrometer`: driver for a line-protocol array spectrometer.

The command set (ASCII, "\\n" both ways, 115200 baud 8N1):

| command     | reply                  | meaning                                            |
| ----------- | ---------------------- | -------------------------------------------------- |
| `*IDN?`     | `maker,model,serial,fw` | identity                                          |
| `PIXELS?`   | `2048`                 | number of detector pixels                          |
| `WL?`       | `c0,c1,c2,c3`          | calibration: nm = c0 + c1 p + c2 p^2 + c3 p^3 at pixel p |
| `INT <ms>`  | `OK`                   | set the integration time (1-10000 ms)              |
| `INT?`      | `100`                  | the integration time in ms                         |
| `ACQ?`      | `N:v0,...,vN-1;CCCC`   | integrate, then send N counts (0-65535)            |
| `DARK?`     | `N:v0,...,vN-1;CCCC`   | the same with the shutter closed                   |

A spectrum reply carries its value count `N` and `CCCC`, the CRC-16/CCITT (initial value
0xFFFF, as `binascii.crc_hqx`) of the text between `:` and `;` in four upper-case hex
digits. Any command may instead get `ERR <code> <message>` (1 unknown command, 2 bad
argument, 3 value out of range, 5 detector not ready).
"""

from __future__ import annotations

import binascii
import math
import operator
import re
from collections.abc import Callable
from typing import Final

from devices.driver import Driver
from devices.errors import DeviceReportedError
from devices.transport import LineProtocol, PortSettings, SerialPort

__all__ = ["MAX_COUNTS", "MAX_INTEGRATION_MS", "MIN_INTEGRATION_MS", "Spectrometer"]

MIN_INTEGRATION_MS: Final = 1
MAX_INTEGRATION_MS: Final = 10_000
MAX_COUNTS: Final = 65_535
"""The detector's full scale: a saturated pixel reads this."""

_ERROR = re.compile(r"ERR (\d+) (.+)")
_SPECTRUM = re.compile(r"(\d+):([0-9,]*);([0-9A-F]{4})")
_BITS_PER_BYTE = 10  # start + 8 data + stop
_BYTES_PER_VALUE = 6  # up to five digits and a comma


class Spectrometer(Driver):
    """An array spectrometer: integration time, wavelength calibration, spectra.

    `pixels` and the wavelength calibration are read at every (re)connection. An
    integration time set through this driver is restored after a reconnection (the
    instrument forgets it when power-cycled). Every reply is parsed strictly: an
    unexpected one is a `ProtocolError`, an `ERR` reply a `DeviceReportedError`.
    """

    protocol = LineProtocol(write_terminator="\n", read_terminator="\n", timeout=1.0)
    settings = PortSettings(baudrate=115_200)

    def __init__(
        self,
        port: str | SerialPort,
        *,
        settings: PortSettings | None = None,
        cancel_check: Callable[[], None] | None = None,
        timeout: float | None = None,
    ) -> None:
        self._pixels: int | None = None
        self._coefficients: tuple[float, ...] | None = None
        self._integration_ms: int | None = None  # as last read or set
        self._requested_ms: int | None = None  # as set by the user, restored on reconnection
        super().__init__(port, settings=settings, cancel_check=cancel_check, timeout=timeout)

    # -- public API ----------------------------------------------------------------------

    @property
    def pixels(self) -> int:
        """The number of detector pixels, i.e. the length of every spectrum."""
        if self._pixels is None:
            self._pixels = self._read_pixels()
        return self._pixels

    @property
    def coefficients(self) -> tuple[float, ...]:
        """The wavelength calibration polynomial, constant term first (nm per pixel^k)."""
        if self._coefficients is None:
            self._coefficients = self._read_calibration()
        return self._coefficients

    def wavelengths(self) -> list[float]:
        """The wavelength in nm of each pixel, from the instrument's calibration."""
        coefficients = self.coefficients
        result = []
        for pixel in range(self.pixels):
            value = 0.0
            for coefficient in reversed(coefficients):
                value = value * pixel + coefficient
            result.append(value)
        return result

    @property
    def integration_time(self) -> int:
        """The integration time in milliseconds, as the instrument reports it."""
        self._integration_ms = self._read_integration_time()
        return self._integration_ms

    @integration_time.setter
    def integration_time(self, milliseconds: int) -> None:
        if isinstance(milliseconds, bool):
            raise TypeError("the integration time is a whole number of milliseconds")
        try:
            value = operator.index(milliseconds)
        except TypeError:
            raise TypeError(
                f"the integration time is a whole number of milliseconds, not {milliseconds!r}"
            ) from None
        if not MIN_INTEGRATION_MS <= value <= MAX_INTEGRATION_MS:
            raise ValueError(
                f"integration time {value} ms is outside "
                f"{MIN_INTEGRATION_MS}-{MAX_INTEGRATION_MS} ms"
            )
        self._do_set_integration_time(value)
        self._requested_ms = value

    def acquire(self) -> list[int]:
        """Integrate for the integration time and return one count per pixel."""
        return self._do_read_spectrum("ACQ?")

    def dark(self) -> list[int]:
        """A dark spectrum (shutter closed), taken with the current integration time."""
        return self._do_read_spectrum("DARK?")

    # -- hooks ---------------------------------------------------------------------------

    def _do_initialise(self) -> None:
        self._do_identify()
        self._pixels = self._read_pixels()
        self._coefficients = self._read_calibration()
        self._integration_ms = self._read_integration_time()
        if self._requested_ms is not None and self._requested_ms != self._integration_ms:
            self._do_set_integration_time(self._requested_ms)

    def _do_shutdown(self) -> None:
        """Nothing to make safe: the spectrometer drives nothing and integrates only when asked."""

    def _do_identify(self) -> str:
        identity = self._query("*IDN?").strip()
        if not identity:
            raise self._bad_reply("*IDN?", identity, "an identity")
        return identity

    def _do_set_integration_time(self, milliseconds: int) -> None:
        command = f"INT {milliseconds}"
        reply = self._query(command)
        if reply != "OK":
            raise self._bad_reply(command, reply, "OK")
        self._integration_ms = milliseconds

    def _do_read_spectrum(self, command: str) -> list[int]:
        """Send a spectrum query, waiting for the integration and the transfer."""
        pixels = self.pixels
        milliseconds = self._integration_ms
        if milliseconds is None:
            milliseconds = self.integration_time
        transfer = pixels * _BYTES_PER_VALUE * _BITS_PER_BYTE / self.transport.settings.baudrate
        timeout = milliseconds / 1000 + transfer + self.transport.protocol.timeout
        return self._parse_spectrum(self._query(command, timeout), command, pixels)

    # -- parsing -------------------------------------------------------------------------

    def _query(self, command: str, timeout: float | None = None) -> str:
        """The reply to `command`; an `ERR` reply raises DeviceReportedError."""
        reply = self.transport.query(command, timeout)
        if reply.startswith("ERR"):
            match = _ERROR.fullmatch(reply)
            if match is None:
                raise self._bad_reply(command, reply, "'ERR <code> <message>'")
            raise DeviceReportedError(
                f"instrument error {match[1]}: {match[2]}",
                port=self.transport.name,
                command=command,
            )
        return reply

    def _read_pixels(self) -> int:
        return self._parse_int("PIXELS?", self._query("PIXELS?"), 1, 1 << 16)

    def _read_integration_time(self) -> int:
        return self._parse_int("INT?", self._query("INT?"), MIN_INTEGRATION_MS, MAX_INTEGRATION_MS)

    def _read_calibration(self) -> tuple[float, ...]:
        command = "WL?"
        reply = self._query(command)
        try:
            coefficients = tuple(float(text) for text in reply.split(","))
        except ValueError:
            coefficients = ()
        if not 2 <= len(coefficients) <= 8 or not all(map(math.isfinite, coefficients)):
            raise self._bad_reply(command, reply, "2-8 comma-separated numbers")
        return coefficients

    def _parse_spectrum(self, reply: str, command: str, pixels: int) -> list[int]:
        match = _SPECTRUM.fullmatch(reply)
        if match is None:
            raise self._bad_reply(command, reply, "'N:v0,...,vN-1;CCCC'")
        announced, data, checksum = match.groups()
        if binascii.crc_hqx(data.encode("ascii"), 0xFFFF) != int(checksum, 16):
            raise self._protocol_error(command, "spectrum checksum mismatch (corrupted reply)")
        texts = data.split(",") if data else []
        if not all(texts):
            raise self._protocol_error(command, "empty value in the spectrum")
        values = [int(text) for text in texts]
        if len(values) != int(announced):
            raise self._protocol_error(
                command, f"spectrum announced {int(announced)} values but holds {len(values)}"
            )
        if len(values) != pixels:
            raise self._protocol_error(
                command, f"spectrum has {len(values)} values, the detector has {pixels} pixels"
            )
        if max(values, default=0) > MAX_COUNTS:
            raise self._protocol_error(command, f"a count exceeds the full scale {MAX_COUNTS}")
        return values
