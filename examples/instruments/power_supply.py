"""`PowerSupplyThing`: an SCPI programmable DC power supply served by labthings.

It wraps `devices.power_supply.PowerSupply`, on a simulator unless given a real port::

    labthing.add_thing("psu", PowerSupplyThing("/dev/ttyUSB0"))

Properties read and write the instrument itself; `ramp_voltage` steps the setpoint at a
given rate, reports progress, and stops at the next step when cancelled.
"""

from __future__ import annotations

import logging
import time
from typing import Annotated

from marshmallow.validate import Range

from devices.power_supply import PowerSupply
from instruments.driver_thing import DriverThing
from labthings import (
    action,
    cancellable_sleep,
    fields,
    raise_if_cancelled,
    thing_property,
    update_task_data,
    update_task_progress,
)

__all__ = ["PowerSupplyThing"]

logger = logging.getLogger(__name__)

RAMP_STEP_SECONDS = 0.05
"""How often a ramp sends a new setpoint."""

Volts = Annotated[float, fields.Float(validate=Range(min=0, max=PowerSupply.max_voltage))]
Amps = Annotated[float, fields.Float(validate=Range(min=0, max=PowerSupply.max_current))]
VoltsPerSecond = Annotated[float, fields.Float(validate=Range(min=0.01, max=1000))]


class PowerSupplyThing(DriverThing[PowerSupply]):
    """A programmable DC power supply: setpoints, output switch, measurements, ramps."""

    title = "Power supply"

    def __init__(self, port: str = "sim://psu") -> None:
        super().__init__(PowerSupply(port, cancel_check=raise_if_cancelled))

    @thing_property
    def voltage(self) -> Volts:
        """The output voltage setpoint, in volts."""
        return self._driver.voltage

    @voltage.setter
    def voltage(self, value: float) -> None:
        self._driver.set_voltage(value)

    @thing_property
    def current_limit(self) -> Amps:
        """The current limit, in amperes: above it the supply regulates the current."""
        return self._driver.current_limit

    @current_limit.setter
    def current_limit(self, value: float) -> None:
        self._driver.set_current_limit(value)

    @thing_property
    def output(self) -> bool:
        """True while the output is switched on."""
        return self._driver.output

    @output.setter
    def output(self, value: bool) -> None:
        self._driver.set_output(value)

    @thing_property
    def measured_voltage(self) -> float:
        """The voltage measured at the output terminals, in volts."""
        return self._driver.measure_voltage()

    @thing_property
    def measured_current(self) -> float:
        """The current measured through the output, in amperes."""
        return self._driver.measure_current()

    @action
    def ramp_voltage(self, target: Volts, rate: VoltsPerSecond = 1.0) -> float:
        """Move the voltage setpoint to `target` at `rate` volts per second.

        Progress and the present setpoint (`data.voltage`) are reported at every step. A
        cancelled ramp leaves the setpoint where it had got to. Returns the final setpoint.
        """
        start = self._driver.voltage
        distance = target - start
        duration = abs(distance) / rate
        logger.info("ramping from %.3f V to %.3f V over %.2f s", start, target, duration)
        began = time.monotonic()
        step = 0
        while True:
            elapsed = time.monotonic() - began
            fraction = 1.0 if elapsed >= duration else elapsed / duration
            setpoint = target if fraction >= 1.0 else start + distance * fraction
            self._driver.set_voltage(setpoint)
            update_task_progress(100 * fraction, f"{setpoint:.3f} V")
            update_task_data({"voltage": round(setpoint, 4)})
            if fraction >= 1.0:
                break
            step += 1
            cancellable_sleep(began + step * RAMP_STEP_SECONDS - time.monotonic())
        return self._driver.voltage
