"""`StageThing`: a motorised XY stage controller served by labthings.

It wraps `devices.stage.StageController`, on a simulator unless given a real port::

    labthing.add_thing("stage", StageThing("/dev/ttyUSB0"))

Moves report progress (the fraction of the distance travelled) as the stage travels;
cancelling one stops the stage where it is.
"""

from __future__ import annotations

import logging
import math
from typing import Annotated

from marshmallow.validate import Range

from devices.errors import DeviceError
from devices.stage import (
    MAX_COORDINATE,
    MAX_SPEED,
    MIN_COORDINATE,
    MIN_SPEED,
    StageController,
)
from instruments.driver_thing import DriverThing
from labthings import (
    ValidationError,
    action,
    cancellable_sleep,
    fields,
    raise_if_cancelled,
    thing_property,
    update_task_data,
    update_task_progress,
)

__all__ = ["StageThing"]

logger = logging.getLogger(__name__)

# The controller's own range; its soft limits (the `limits` property) are checked when
# a move starts, because they belong to the instrument, not to this class.
Steps = Annotated[int, fields.Integer(validate=Range(min=MIN_COORDINATE, max=MAX_COORDINATE))]
Speed = Annotated[int, fields.Integer(validate=Range(min=MIN_SPEED, max=MAX_SPEED))]


class StageThing(DriverThing[StageController]):
    """A motorised XY stage: moves that report progress and stop when cancelled."""

    title = "XY stage"

    poll_interval = 0.05
    """Seconds between position polls while following a move."""

    def __init__(self, port: str = "sim://stage") -> None:
        super().__init__(StageController(port, cancel_check=raise_if_cancelled))

    @thing_property
    def position(self) -> list[int]:
        """The current [x, y] position in steps, read from the controller."""
        return list(self._driver.position())

    @thing_property
    def moving(self) -> bool:
        """True while the stage is moving."""
        return self._driver.is_moving()

    @thing_property
    def speed(self) -> Speed:
        """The travel speed in steps per second (the controller refuses changes mid-move)."""
        return self._driver.speed

    @speed.setter  # type: ignore[no-redef]
    def speed(self, steps_per_second: int) -> None:
        self._driver.speed = steps_per_second

    @thing_property
    def limits(self) -> dict[str, int]:
        """The soft limits in steps: `xmin`, `xmax`, `ymin`, `ymax`; moves stay inside."""
        return self._driver.limits()._asdict()

    @action
    def move(self, x: Steps, y: Steps) -> list[int]:
        """Move to (x, y) in steps and return the final [x, y].

        Progress is the fraction of the distance travelled; a cancel stops the stage where
        it is. A target outside the stage's limits fails before anything moves.
        """
        self._check_target(x, y, "x", "y")
        start = self._driver.position()
        self._driver.move_to(x, y)
        return self._follow(start, (x, y))

    @action
    def move_relative(self, dx: Steps, dy: Steps) -> list[int]:
        """Move by (dx, dy) steps from where the stage is, and return the final [x, y]."""
        start = self._driver.position()
        self._check_target(start[0] + dx, start[1] + dy, "dx", "dy")
        self._driver.move_by(dx, dy)
        return self._follow(start, (start[0] + dx, start[1] + dy))

    def _check_target(self, x: int, y: int, *fields: str) -> None:
        """Refuse a target outside the soft limits as input (ValidationError: the record's
        problem is `input-refused`, naming `fields`; a synchronous POST answers 422)."""
        try:
            self._driver.check_target(x, y)
        except ValueError as error:
            raise ValidationError(str(error), {name: [str(error)] for name in fields}) from None

    @action(dedupe=True)
    def home(self) -> list[int]:
        """Move to (0, 0) and return the final [x, y]. A second request while homing
        joins the one under way (`LabThings-Reused: dedupe`) rather than queueing
        another trip."""
        start = self._driver.position()
        self._driver.home()
        return self._follow(start, (0, 0))

    def _follow(self, start: tuple[int, int], target: tuple[int, int]) -> list[int]:
        """Poll the moving stage, reporting progress, until it stops; stop it on a cancel."""
        logger.info("moving from %s to %s", start, target)
        total = math.dist(start, target)
        try:
            while True:
                moving = self._driver.is_moving()
                here = self._driver.position()
                done = 1.0 if total == 0 else min(1.0, math.dist(start, here) / total)
                percent = 100 * done if not moving else min(99.0, 100 * done)
                update_task_progress(percent, f"at ({here[0]}, {here[1]})")
                update_task_data({"position": list(here)})
                self.notify_property_changed("position", list(here))
                if not moving:
                    break
                cancellable_sleep(self.poll_interval)
        except BaseException:
            # Cancelled (TaskCancelled) or the link failed: never leave the stage running.
            self._halt()
            raise
        if here != target:
            logger.warning("the stage stopped at %s, short of its target %s", here, target)
        return list(here)

    def _halt(self) -> None:
        """Stop the stage; the stop is sent even though the task is being cancelled."""
        try:
            self._driver.stop()
        except DeviceError as error:
            logger.error("could not stop the stage: %s", error)
        else:
            logger.info("stopped the stage before its target")
