"""A demo lab: a microscope with a stage, a camera, a light, a thermometer, a power
supply and a spectrometer, all simulated, and spectrum analysis (an external program,
and a simulated analysis service checked as a remote job), so it runs anywhere:

    labthings serve examples/microscope.py:labthing

The stage, power supply and spectrometer are real serial drivers (`devices`) talking to
their simulators over `sim://` ports. Point any of them at hardware with the factory:

    labthings serve examples/microscope.py:make_labthing --option stage=/dev/ttyUSB0
    labthings serve examples/microscope.py:make_labthing --config lab.json

where lab.json is e.g. {"stage": "/dev/ttyUSB0", "psu": "socket://192.0.2.7:4001"}.
Actions take seconds and report progress; properties change as the instruments work.
"""

from __future__ import annotations

import logging
import math
import random
import time
from typing import Annotated, Literal

from instruments.analysis import AnalysisThing
from instruments.power_supply import PowerSupplyThing
from instruments.spectrometer import SpectrometerThing
from instruments.stage import StageThing
from marshmallow.validate import Range

from labthings import (
    LabThing,
    Thing,
    action,
    cancellable_sleep,
    fields,
    raise_if_cancelled,
    thing_event,
    thing_property,
    update_task_data,
    update_task_progress,
)

logger = logging.getLogger(__name__)


class Camera(Thing):
    """A camera that acquires (simulated) intensity profiles."""

    exposure = thing_property(
        fields.Float(validate=Range(min=0.001, max=5)),
        default=0.2,
        description="Exposure time in seconds.",
    )
    gain = thing_property(
        fields.Integer(validate=Range(min=1, max=16)), default=1, description="Analogue gain."
    )
    frames_taken = thing_property(int, default=0, readonly=True)
    frame_ready = thing_event(dict, description="A frame was taken: its number and peak intensity.")

    @action
    def acquire(
        self,
        averages: Annotated[int, fields.Integer(validate=Range(min=1, max=1000))] = 5,
        width: Annotated[int, fields.Integer(validate=Range(min=1, max=4096))] = 64,
    ) -> list[float]:
        """Average `averages` frames of `width` pixels; progress after each frame."""
        total = [0.0] * width
        for frame in range(averages):
            cancellable_sleep(self.exposure)
            for pixel in range(width):
                peak = math.exp(-(((pixel - width / 2) / (width / 8)) ** 2))
                total[pixel] += self.gain * (100 * peak + random.gauss(0, 2))
            self.frames_taken += 1
            self.emit("frame_ready", {"frame": frame + 1, "peak": max(total) / (frame + 1)})
            update_task_progress(100 * (frame + 1) / averages, f"frame {frame + 1}/{averages}")
            update_task_data({"frames": frame + 1})
        return [round(value / averages, 3) for value in total]


class Light(Thing):
    """An LED illuminator."""

    brightness = thing_property(
        fields.Integer(validate=Range(min=0, max=100)),
        default=50,
        description="Brightness in percent.",
    )
    on = thing_property(bool, default=False)
    colour = thing_property(str, default="white")

    @action
    def toggle(self) -> bool:
        """Switch the light on or off at once; returns whether it is now on."""
        self.on = not self.on
        return self.on

    @action(wait=2)
    def blink(
        self,
        times: Annotated[int, fields.Integer(validate=Range(min=1, max=100))] = 3,
        mode: Literal["fast", "slow"] = "fast",
    ) -> int:
        """Blink `times` times; returns how many blinks were done."""
        period = 0.2 if mode == "fast" else 1.0
        for done in range(times):
            raise_if_cancelled()
            self.on = not self.on
            cancellable_sleep(period / 2)
            self.on = not self.on
            cancellable_sleep(period / 2)
            update_task_progress(100 * (done + 1) / times)
        return times


class Thermometer(Thing):
    """A sample thermometer whose reading drifts slowly."""

    def __init__(self) -> None:
        self._started = time.monotonic()

    @thing_property
    def temperature(self) -> float:
        """Sample temperature in degrees Celsius."""
        elapsed = time.monotonic() - self._started
        return round(21.0 + 0.5 * math.sin(elapsed / 30) + random.gauss(0, 0.02), 3)

    @action(lock=False, safe=True, idempotent=True)
    def log_temperature(
        self,
        samples: Annotated[int, fields.Integer(validate=Range(min=1, max=10_000))] = 10,
        interval: Annotated[float, fields.Float(validate=Range(min=0, max=60))] = 0.5,
    ) -> list[float]:
        """Record `samples` readings `interval` seconds apart."""
        readings = []
        for index in range(samples):
            readings.append(self.temperature)
            update_task_progress(100 * (index + 1) / samples, f"{readings[-1]} °C")
            if index + 1 < samples:
                cancellable_sleep(interval)
        return readings


def make_labthing(
    stage: str = "sim://stage",
    psu: str = "sim://psu",
    spectrometer: str = "sim://spectrometer",
) -> LabThing:
    """The demo lab, with the serial instruments on the given ports (simulators by default)."""
    lab = LabThing(
        title="Demo microscope", description="Simulated instruments for trying labthings."
    )
    lab.add_thing("stage", StageThing(stage))
    lab.add_thing("camera", Camera())
    lab.add_thing("light", Light())
    lab.add_thing("thermometer", Thermometer())
    lab.add_thing("psu", PowerSupplyThing(psu))
    lab.add_thing("spectrometer", SpectrometerThing(spectrometer))
    lab.add_thing("analysis", AnalysisThing())
    return lab


labthing = make_labthing()
