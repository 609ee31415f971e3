"""A compute action on Celery workers: averaging an image stack with numpy.

Heavy analysis outgrows the instrument PC, so it runs on Celery workers when the server
has a broker, and in the server's own threads when it has none. Three commands run it
(see the README, "Compute on Celery workers"):

    redis-server --port 6379 --save '' --appendonly no
    labthings worker --celery-broker redis://127.0.0.1:6379/0 examples/compute.py
    labthings serve examples/compute.py:labthing --celery-broker redis://127.0.0.1:6379/0

Without the broker option the server runs `average_stack` itself, as any other action.
"""

from __future__ import annotations

import logging
from typing import Annotated

import numpy as np
from marshmallow.validate import Range

from labthings import LabThing, Thing, action, fields, update_task_progress

logger = logging.getLogger(__name__)

Frames = Annotated[int, fields.Integer(validate=Range(min=1, max=10_000))]
Pixels = Annotated[int, fields.Integer(validate=Range(min=8, max=4096))]


class StackAnalysis(Thing):
    """Analyses of the lab's image stacks; they need no instrument, so they can run on
    any machine with this file and numpy."""

    spot_width = 12.0
    """Pixels: the width of the simulated spot (a class attribute: workers have it)."""

    @action(executor="celery", wait=5)
    def average_stack(
        self, frames: Frames = 200, size: Pixels = 512, seed: int = 0
    ) -> dict[str, float]:
        """Average a stack of `frames` noisy `size` x `size` images of a faint spot
        (simulated from `seed`, as a camera would give them, with hot pixels) and
        report where the spot is and how far above the noise the average lifts it."""
        logger.info("averaging %d frames of %d x %d pixels", frames, size, size)
        rng = np.random.default_rng(seed)
        y, x = np.mgrid[0:size, 0:size]
        centre = rng.uniform(size / 4, 3 * size / 4, 2)
        spot = 0.5 * np.exp(-((x - centre[0]) ** 2 + (y - centre[1]) ** 2) / self.spot_width**2)
        total = np.zeros((size, size))
        for index in range(frames):
            frame = spot + rng.normal(0.0, 1.0, (size, size))
            hot = rng.integers(0, size, (2, size // 16))
            frame[hot[0], hot[1]] += 50.0  # cosmic rays, which the clip below tames
            total += frame
            update_task_progress(100 * (index + 1) / frames, f"frame {index + 1} of {frames}")
        mean = total / frames
        smooth = _box_blur(np.clip(mean, None, np.percentile(mean, 99.9)), 5)
        peak_y, peak_x = np.unravel_index(np.argmax(smooth), smooth.shape)
        noise = float(np.std(mean[: size // 8, : size // 8]))
        logger.info("spot found at (%d, %d)", peak_x, peak_y)
        return {
            "peakX": float(peak_x),
            "peakY": float(peak_y),
            "trueX": float(centre[0]),
            "trueY": float(centre[1]),
            "noise": noise,
            "snr": float(smooth[peak_y, peak_x] / noise) if noise else 0.0,
        }


def _box_blur(image: np.ndarray, width: int) -> np.ndarray:
    """The mean of each `width` x `width` neighbourhood (edges wrap)."""
    kernel = np.ones(width) / width
    rows = np.apply_along_axis(np.convolve, 1, image, kernel, mode="same")
    return np.apply_along_axis(np.convolve, 0, rows, kernel, mode="same")


labthing = LabThing(title="Compute lab")
labthing.add_thing("stacks", StackAnalysis())
