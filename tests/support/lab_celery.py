"""Compute actions for the Celery tests, served by `make_labthing` and run by a worker
started as `labthings worker --celery-broker URL tests/support/lab_celery.py`.

`crawl` appends a line to a file every `step` seconds, so a test can see that a
cancelled action really stopped on the worker.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Annotated

import numpy as np
from marshmallow.validate import Range

from labthings import (
    LabThing,
    Thing,
    action,
    current_task,
    fields,
    update_task_data,
    update_task_progress,
)

logger = logging.getLogger("lab_celery")

Seconds = Annotated[float, fields.Float(validate=Range(0, 600))]


class Analysis(Thing):
    """Computations that need no instrument: on Celery workers when the server has a
    broker, in the server's task threads otherwise."""

    scale = 2.0
    """A class attribute: the bare `self` a worker calls with has it."""

    def __init__(self) -> None:
        self.calibration = 1.0  # instance state: a worker does not have it

    @action(executor="celery")
    def average(self, frames: list[list[float]], scaled: bool = False) -> list[float]:
        """The mean of `frames` (times `scale` if `scaled`), reporting each frame."""
        logger.info("averaging %d frames", len(frames))
        logger.debug("a debug line, which task logs do not keep")
        total = np.zeros(len(frames[0]))
        for index, frame in enumerate(frames):
            total += np.asarray(frame)
            update_task_progress(100 * (index + 1) / len(frames), f"frame {index + 1}")
        task = current_task()
        update_task_data({"frames": len(frames), "invocation": None if task is None else task.id})
        logger.warning("done averaging")
        mean = total / len(frames)
        return list(mean * self.scale if scaled else mean)  # numpy floats: the annotation converts

    @action(executor="celery")
    def crawl(self, seconds: Seconds, marker: str = "", step: Seconds = 0.1) -> int:
        """Run for `seconds`, appending a line to the file `marker` (if given) every
        `step` s with progress and time remaining; the number of steps made."""
        logger.info("crawling for %g s", seconds)
        steps = max(1, round(seconds / step))
        for index in range(steps):
            if marker:
                with Path(marker).open("a", encoding="utf-8") as file:
                    file.write(f"{index}\n")
            update_task_progress(
                100 * index / steps, f"step {index}", remaining=(steps - index) * step
            )
            time.sleep(step)
        return steps

    @action(executor="celery")
    def fail(self, message: str) -> None:
        """Raise ValueError(message) after logging a line."""
        logger.info("about to fail")
        raise ValueError(message)

    @action(executor="celery")
    def not_json(self) -> float:
        """Return NaN, which JSON cannot hold."""
        return float("nan")

    @action(executor="celery")
    def calibrated(self, value: float) -> float:
        """Use instance state, which a worker's bare `self` does not have."""
        return value * self.calibration

    @action(executor="celery")
    def chatty(self, lines: int, pause: Seconds = 0.0) -> int:
        """Log `lines` INFO lines (then sleep `pause` s); how many."""
        for index in range(lines):
            logger.info("line %d", index)
        time.sleep(pause)
        return lines

    @action
    def local(self) -> float:
        """An ordinary action of the same Thing, in the server's thread."""
        return self.calibration


def make_labthing(lost_after: str = "30") -> LabThing:
    """A LabThing serving an `Analysis` as `analysis`; `lost_after` is the
    `compute_lost_after` setting (seconds)."""
    labthing = LabThing(title="Compute lab", compute_lost_after=float(lost_after))
    labthing.add_thing("analysis", Analysis())
    return labthing
