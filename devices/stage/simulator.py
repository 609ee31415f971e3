"""`StageSimulator`: a simulated motorised XY stage controller (`sim://stage`).

It speaks the controller's command set (see `devices.stage.driver`): commands end with
"\\r", replies with "\\r\\n", and every command gets a reply. Moves take time in
proportion to distance at the current speed: the position is computed from
`time.monotonic()`, so a move proceeds while nobody is talking to the controller, and a
stop freezes it where it is at that instant. Errors are `ERR <code> <message>` replies.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from devices.simulation import Simulator

__all__ = ["StageSimulator", "StageState"]

IDENTITY = "LabMotion XY-200 stage controller, SN 20417, FW 2.3"
MIN_SPEED = 1
MAX_SPEED = 100_000
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

# Error codes of the controller: `ERR <code> <message>`.
UNKNOWN_COMMAND = 1
BAD_ARGUMENT = 2
OUTSIDE_LIMITS = 3
BAD_SPEED = 4
BUSY = 5
MOTOR_FAULT = 9

_INTEGER = re.compile(r"[+-]?\d{1,10}")


@dataclass(frozen=True)
class StageState:
    """The simulated stage's true state at one instant (for tests)."""

    position: tuple[int, int]
    """Where the stage is now, in steps (rounded to whole steps)."""
    target: tuple[int, int]
    """The target of the last move commanded (kept after a stop, so tests can compare)."""
    moving: bool
    speed: int
    """Steps per second along the path."""


class _Refused(Exception):
    """A command the controller answers with `ERR code message`."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class StageSimulator(Simulator):
    """A simulated XY stage controller with soft limits and straight-line moves.

    Both axes move together along the straight line from the start to the target, at
    `speed` steps per second along the path. A new move while moving starts from where
    the stage is at that instant.
    """

    kind = "stage"
    read_terminator = "\r"
    write_terminator = "\r\n"

    def __init__(
        self,
        *,
        limits: tuple[int, int, int, int] = (-50_000, 50_000, -50_000, 50_000),
        speed: int = 10_000,
    ) -> None:
        xmin, xmax, ymin, ymax = limits
        if not (xmin <= 0 <= xmax and ymin <= 0 <= ymax):
            raise ValueError(f"limits {limits} must contain the home position (0, 0)")
        if not MIN_SPEED <= speed <= MAX_SPEED:
            raise ValueError(f"speed {speed} is outside {MIN_SPEED}..{MAX_SPEED} steps/s")
        super().__init__()
        self.limits = (xmin, xmax, ymin, ymax)
        self._speed = speed
        self._start: tuple[float, float] = (0.0, 0.0)
        self._end: tuple[float, float] = (0.0, 0.0)
        self._started = 0.0
        self._duration = 0.0
        self._target = (0, 0)
        self._commands: dict[str, tuple[int, Callable[[list[str]], str]]] = {
            "ID?": (0, lambda args: IDENTITY),
            "POS?": (0, lambda args: "{} {}".format(*self._position_now())),
            "BUSY?": (0, lambda args: "1" if self._moving_now() else "0"),
            "SPD?": (0, lambda args: str(self._speed)),
            "LIM?": (0, lambda args: "{} {} {} {}".format(*self.limits)),
            "MA": (2, self._move_absolute),
            "MR": (2, self._move_relative),
            "HOME": (0, lambda args: self._start_move(0, 0)),
            "ST": (0, self._stop),
            "SPD": (1, self._set_speed),
        }

    # -- for tests -----------------------------------------------------------------------

    def state(self) -> StageState:
        """The true position, target, motion and speed right now."""
        with self.lock:
            return StageState(
                position=self._position_now(),
                target=self._target,
                moving=self._moving_now(),
                speed=self._speed,
            )

    # -- the command set -----------------------------------------------------------------

    def handle(self, command: str) -> str:
        """The controller's reply to one command line."""
        words = command.split()
        if not words:
            return f"ERR {UNKNOWN_COMMAND} empty command"
        name, args = words[0].upper(), words[1:]
        with self.lock:
            try:
                if name not in self._commands:
                    raise _Refused(UNKNOWN_COMMAND, f"unknown command {ascii(name)}")
                arity, run = self._commands[name]
                if len(args) != arity:
                    raise _Refused(BAD_ARGUMENT, f"{name} takes {arity} arguments")
                return run(args)
            except _Refused as refused:
                return f"ERR {refused.code} {refused.message}"

    def error_reply(self, command: str) -> str:
        """The controller's reply when its motor driver has tripped."""
        return f"ERR {MOTOR_FAULT} motor driver fault"

    def _move_absolute(self, args: list[str]) -> str:
        return self._start_move(_integer(args[0]), _integer(args[1]))

    def _move_relative(self, args: list[str]) -> str:
        dx, dy = _integer(args[0]), _integer(args[1])
        x, y = self._position_now()
        return self._start_move(x + dx, y + dy)

    def _stop(self, args: list[str]) -> str:
        here = self._position_now()
        self._start = self._end = (float(here[0]), float(here[1]))
        self._duration = 0.0
        return "OK"

    def _set_speed(self, args: list[str]) -> str:
        speed = _integer(args[0])
        if not MIN_SPEED <= speed <= MAX_SPEED:
            raise _Refused(BAD_SPEED, f"speed {speed} outside {MIN_SPEED}..{MAX_SPEED}")
        if self._moving_now():
            raise _Refused(BUSY, "cannot change speed while moving")
        self._speed = speed
        return "OK"

    # -- motion --------------------------------------------------------------------------

    def _start_move(self, x: int, y: int) -> str:
        xmin, xmax, ymin, ymax = self.limits
        if not (xmin <= x <= xmax and ymin <= y <= ymax):
            raise _Refused(OUTSIDE_LIMITS, f"target {x} {y} outside limits")
        here = self._position_now()
        self._start = (float(here[0]), float(here[1]))
        self._end = (float(x), float(y))
        self._target = (x, y)
        self._started = time.monotonic()
        self._duration = math.dist(here, (x, y)) / self._speed
        return "OK"

    def _fraction_done(self) -> float:
        if self._duration <= 0:
            return 1.0
        return min(1.0, (time.monotonic() - self._started) / self._duration)

    def _moving_now(self) -> bool:
        return self._fraction_done() < 1.0

    def _position_now(self) -> tuple[int, int]:
        done = self._fraction_done()
        (x0, y0), (x1, y1) = self._start, self._end
        return round(x0 + (x1 - x0) * done), round(y0 + (y1 - y0) * done)


def _integer(text: str) -> int:
    """A 32-bit integer argument, or the controller's bad-argument error."""
    if not _INTEGER.fullmatch(text) or not INT32_MIN <= int(text) <= INT32_MAX:
        raise _Refused(BAD_ARGUMENT, f"bad number {ascii(text)}")
    return int(text)
