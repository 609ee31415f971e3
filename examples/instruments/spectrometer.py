"""`SpectrometerThing`: an array spectrometer served by labthings.

It wraps `devices.spectrometer.Spectrometer`, on a simulator unless given a real port::

    labthing.add_thing("spectrometer", SpectrometerThing("/dev/ttyUSB0"))

Averaged acquisitions report progress after each spectrum and stop at the next one
when cancelled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated

from marshmallow.validate import Range

from devices.spectrometer import (
    MAX_COUNTS,
    MAX_INTEGRATION_MS,
    MIN_INTEGRATION_MS,
    Spectrometer,
)
from instruments.driver_thing import DriverThing
from labthings import (
    action,
    fields,
    raise_if_cancelled,
    thing_property,
    update_task_data,
    update_task_progress,
)

__all__ = ["SpectrometerThing"]

logger = logging.getLogger(__name__)

Milliseconds = Annotated[
    int, fields.Integer(validate=Range(min=MIN_INTEGRATION_MS, max=MAX_INTEGRATION_MS))
]
Averages = Annotated[int, fields.Integer(validate=Range(min=1, max=10_000))]


class SpectrometerThing(DriverThing[Spectrometer]):
    """An array spectrometer: set the integration time, take averaged spectra."""

    title = "Spectrometer"

    def __init__(self, port: str = "sim://spectrometer") -> None:
        super().__init__(Spectrometer(port, cancel_check=raise_if_cancelled))

    @thing_property
    def integration_time(self) -> Milliseconds:
        """The integration time of each spectrum, in milliseconds."""
        return self._driver.integration_time

    @integration_time.setter
    def integration_time(self, milliseconds: int) -> None:
        self._driver.integration_time = milliseconds

    @thing_property
    def pixels(self) -> int:
        """The number of detector pixels: the length of every spectrum."""
        return self._driver.pixels

    @thing_property
    def wavelengths(self) -> list[float]:
        """The wavelength in nm of each pixel, in the order of the spectra's values."""
        return [round(value, 4) for value in self._driver.wavelengths()]

    @action
    def acquire(self, averages: Averages = 1) -> list[float]:
        """The mean of `averages` spectra, in counts per pixel (see `wavelengths`).

        Progress is reported after each spectrum; a cancel stops before the next one.
        """
        return self._average(self._driver.acquire, averages, "spectrum")

    @action
    def dark(self, averages: Averages = 1) -> list[float]:
        """The mean of `averages` dark spectra (shutter closed), in counts per pixel."""
        return self._average(self._driver.dark, averages, "dark spectrum")

    @action(cache_for=300)
    def dark_reference(
        self, integration_time: Milliseconds, averages: Averages = 10
    ) -> list[float]:
        """A dark reference at `integration_time` ms. Dark current drifts slowly, so the
        same request within 5 minutes gets back the one already taken (a cached result,
        said by the `LabThings-Reused: cache` header) instead of closing the shutter again."""
        self.integration_time = integration_time
        return self._average(self._driver.dark, averages, "dark spectrum")

    def _average(self, take: Callable[[], list[int]], averages: int, what: str) -> list[float]:
        total = [0] * self._driver.pixels
        saturated = 0
        for done in range(1, averages + 1):
            spectrum = take()  # the driver checks for cancellation before each command
            saturated = max(saturated, sum(value >= MAX_COUNTS for value in spectrum))
            total = [a + b for a, b in zip(total, spectrum, strict=True)]
            update_task_progress(100 * done / averages, f"{what} {done}/{averages}")
            update_task_data({"spectra": done, "saturated_pixels": saturated})
        if saturated:
            logger.warning(
                "%d pixels saturated at %d counts; shorten the integration time",
                saturated,
                MAX_COUNTS,
            )
        return [round(value / averages, 3) for value in total]
