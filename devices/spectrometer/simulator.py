"""`SpectrometerSimulator`: a simulated array spectrometer looking at a mercury-argon lamp.

It speaks the command set documented in `devices.spectrometer.driver`. An acquisition
takes the integration time; its spectrum is a dark offset, dark current, a few emission
lines and a weak continuum, all but the offset growing with the integration time, plus
read and shot noise, clipped at the detector's full scale of 65535 counts.
"""

from __future__ import annotations

import binascii
import math
import random
import time
from collections.abc import Callable

from devices.simulation import Simulator

__all__ = ["SpectrometerSimulator"]

FULL_SCALE = 65_535
DARK_OFFSET = 1_000.0  # counts, whatever the integration time
DARK_CURRENT = 0.05  # counts per ms
HOT_PIXELS = {317: 2.0, 1502: 0.8}  # pixel -> extra dark counts per ms
READ_NOISE = 6.0  # counts rms
COUNTS_PER_ELECTRON = 0.5
CALIBRATION = (339.5, 0.2485, -1.45e-5, 1.1e-9)  # nm = c0 + c1 p + c2 p^2 + c3 p^3
LINES = [  # (wavelength nm, peak counts per ms): mercury and argon lines
    (404.66, 120.0),
    (435.83, 300.0),
    (546.07, 500.0),
    (576.96, 150.0),
    (579.07, 140.0),
    (696.54, 80.0),
    (763.51, 200.0),
]
LINE_WIDTH = 1.2  # nm, full width at half maximum
CONTINUUM = (600.0, 120.0, 4.0)  # centre nm, width nm, counts per ms


class SpectrometerSimulator(Simulator):
    """A simulated spectrometer: state under `self.lock`, acquisitions take real time."""

    kind = "spectrometer"
    identity = "LabSim Instruments,SPEC-2048,SN0417,1.3.0"

    def __init__(self, pixels: int = 2048, *, seed: int | None = None) -> None:
        super().__init__()
        self.pixels = pixels
        self.integration_ms = 100
        self.acquisitions = 0
        """How many spectra (light or dark) have been taken, for tests."""
        self._random = random.Random(seed)
        self._light = [self._light_per_ms(self._wavelength(p)) for p in range(pixels)]
        self._dark = [DARK_CURRENT + HOT_PIXELS.get(p, 0.0) for p in range(pixels)]
        self._commands: dict[str, Callable[[str], str]] = {
            "*IDN?": self._identify,
            "PIXELS?": self._pixel_count,
            "WL?": self._calibration,
            "INT": self._set_integration,
            "INT?": self._integration,
            "ACQ?": self._acquire,
            "DARK?": self._acquire_dark,
        }

    def handle(self, command: str) -> str | None:
        """Dispatch on the keyword (case-insensitive); unknown ones get `ERR 1`."""
        keyword, _, argument = command.strip().partition(" ")
        handler = self._commands.get(keyword.upper())
        if handler is None:
            return f"ERR 1 unknown command {ascii(keyword[:20])}"
        with self.lock:
            return handler(argument.strip())

    def error_reply(self, command: str) -> str:
        """The instrument's error for a command it could not carry out."""
        return "ERR 5 detector not ready"

    # -- commands --------------------------------------------------------------------------

    def _identify(self, argument: str) -> str:
        return self._no_argument(argument) or self.identity

    def _pixel_count(self, argument: str) -> str:
        return self._no_argument(argument) or str(self.pixels)

    def _calibration(self, argument: str) -> str:
        return self._no_argument(argument) or ",".join(f"{c:.6g}" for c in CALIBRATION)

    def _integration(self, argument: str) -> str:
        return self._no_argument(argument) or str(self.integration_ms)

    def _set_integration(self, argument: str) -> str:
        if not argument.isdigit() or not argument.isascii():
            return "ERR 2 INT takes a whole number of milliseconds"
        value = int(argument)
        if not 1 <= value <= 10_000:
            return "ERR 3 integration time out of range 1-10000 ms"
        self.integration_ms = value
        return "OK"

    def _acquire(self, argument: str) -> str:
        return self._no_argument(argument) or self._spectrum(light=True)

    def _acquire_dark(self, argument: str) -> str:
        return self._no_argument(argument) or self._spectrum(light=False)

    @staticmethod
    def _no_argument(argument: str) -> str:
        """An error reply if a query was given an argument, else ''."""
        return "ERR 2 this query takes no argument" if argument else ""

    # -- the detector ------------------------------------------------------------------------

    def _spectrum(self, *, light: bool) -> str:
        """Integrate (sleeping the integration time), then format the reply line."""
        milliseconds = self.integration_ms
        started = time.monotonic()
        counts = [self._pixel(p, milliseconds, light) for p in range(self.pixels)]
        self.acquisitions += 1
        time.sleep(max(0.0, milliseconds / 1000 - (time.monotonic() - started)))
        data = ",".join(map(str, counts))
        checksum = binascii.crc_hqx(data.encode("ascii"), 0xFFFF)
        return f"{len(counts)}:{data};{checksum:04X}"

    def _pixel(self, pixel: int, milliseconds: int, light: bool) -> int:
        signal = self._dark[pixel] * milliseconds
        if light:
            signal += self._light[pixel] * milliseconds
        sigma = math.sqrt(READ_NOISE**2 + signal * COUNTS_PER_ELECTRON)
        value = round(DARK_OFFSET + signal + self._random.gauss(0.0, sigma))
        return min(FULL_SCALE, max(0, value))

    @staticmethod
    def _wavelength(pixel: int) -> float:
        return sum(c * pixel**k for k, c in enumerate(CALIBRATION))

    @staticmethod
    def _light_per_ms(wavelength: float) -> float:
        sigma = LINE_WIDTH / (2 * math.sqrt(2 * math.log(2)))
        counts = sum(
            height * math.exp(-0.5 * ((wavelength - centre) / sigma) ** 2)
            for centre, height in LINES
        )
        centre, width, height = CONTINUUM
        return counts + height * math.exp(-0.5 * ((wavelength - centre) / width) ** 2)
