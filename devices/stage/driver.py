"""`StageController`: the driver of a motorised XY stage controller.

The controller's command set (commands end with "\\r", replies with "\\r\\n"; every
command gets a reply; positions are signed 32-bit integers in steps):

    ID?          -> identity line
    POS?         -> "x y"
    MA x y       -> "OK" at once; the move proceeds in the background
    MR dx dy     -> "OK"; a move relative to where the stage is now
    HOME         -> "OK"; a move to 0 0
    ST           -> "OK"; the stage stops where it is
    BUSY?        -> "1" while moving, else "0"
    SPD v        -> "OK"; speed in steps/s (refused while moving)
    SPD?         -> "v"
    LIM?         -> "xmin xmax ymin ymax" (soft limits)

Anything the controller refuses (a target outside the limits, a malformed number, an
unknown command) is answered `ERR <code> <message>`, which the driver raises as
`StageReportedError` (a `DeviceReportedError`) carrying the code and message.
"""

from __future__ import annotations

import re
import time
from typing import NamedTuple

from devices.driver import Driver
from devices.errors import DeviceReportedError, DeviceTimeoutError
from devices.transport import LineProtocol, PortSettings

__all__ = [
    "MAX_COORDINATE",
    "MAX_SPEED",
    "MIN_COORDINATE",
    "MIN_SPEED",
    "StageController",
    "StageLimits",
    "StageReportedError",
]

MIN_SPEED = 1
MAX_SPEED = 100_000
"""The speeds (steps/s) the controller accepts."""
MIN_COORDINATE, MAX_COORDINATE = -(2**31), 2**31 - 1
"""Positions and steps the controller can express (signed 32-bit)."""

_INT = r"([+-]?\d+)"
_PAIR = re.compile(rf"{_INT}\s+{_INT}")
_FOUR = re.compile(rf"{_INT}\s+{_INT}\s+{_INT}\s+{_INT}")
_ERROR = re.compile(r"ERR\s+(\d+)\s*(.*)")


class StageLimits(NamedTuple):
    """The soft limits of both axes, in steps (inclusive)."""

    xmin: int
    xmax: int
    ymin: int
    ymax: int

    def contains(self, x: int, y: int) -> bool:
        """True if (x, y) is inside the limits."""
        return self.xmin <= x <= self.xmax and self.ymin <= y <= self.ymax

    def describe(self) -> str:
        """The limits as a sentence fragment for error messages."""
        return f"x from {self.xmin} to {self.xmax}, y from {self.ymin} to {self.ymax}"


class StageReportedError(DeviceReportedError):
    """The controller answered `ERR <code> <message>`."""

    def __init__(self, code: int, reason: str, *, port: str, command: str) -> None:
        super().__init__(f"controller error {code}: {reason}", port=port, command=command)
        self.code = code
        self.reason = reason


class StageController(Driver):
    """A motorised XY stage: moves that run in the background, polling, stop, limits.

    `move_to`, `move_by` and `home` start a move and return at once; `is_moving` and
    `wait_until_stopped` follow it, and `stop` halts it. Targets are checked against
    the soft limits (read at every connection) before anything is sent.
    """

    protocol = LineProtocol(write_terminator="\r", read_terminator="\r\n", timeout=1.0)
    settings = PortSettings(baudrate=115_200)

    _limits: StageLimits | None = None

    # -- identity and state --------------------------------------------------------------

    def position(self) -> tuple[int, int]:
        """The current (x, y) in steps; it changes while the stage moves."""
        return self._pair("POS?")

    def is_moving(self) -> bool:
        """True while a move is in progress."""
        reply = self._query("BUSY?")
        if reply not in ("0", "1"):
            raise self._bad_reply("BUSY?", reply, "0 or 1")
        return reply == "1"

    def limits(self) -> StageLimits:
        """The soft limits, read from the controller (and remembered for move checks)."""
        reply = self._query("LIM?")
        match = _FOUR.fullmatch(reply.strip())
        if match is None:
            raise self._bad_reply("LIM?", reply, "'xmin xmax ymin ymax'")
        limits = StageLimits(*(int(value) for value in match.groups()))
        if limits.xmin > limits.xmax or limits.ymin > limits.ymax:
            raise self._bad_reply("LIM?", reply, "each minimum at most its maximum")
        self._limits = limits
        return limits

    @property
    def speed(self) -> int:
        """The travel speed in steps per second along the path."""
        return self._parse_int("SPD?", self._query("SPD?"), MIN_SPEED, MAX_SPEED)

    @speed.setter
    def speed(self, steps_per_second: int) -> None:
        value = _whole(steps_per_second, "speed")
        if not MIN_SPEED <= value <= MAX_SPEED:
            raise ValueError(f"speed {value} steps/s is outside {MIN_SPEED}..{MAX_SPEED} steps/s")
        self._command(f"SPD {value}")

    # -- motion --------------------------------------------------------------------------

    def move_to(self, x: int, y: int) -> None:
        """Start a move to (x, y); ValueError (nothing sent) if it is outside the limits."""
        target = _whole(x, "x"), _whole(y, "y")
        self.check_target(*target)
        self._command(f"MA {target[0]} {target[1]}")

    def move_by(self, dx: int, dy: int) -> None:
        """Start a move by (dx, dy) from where the stage is now; ValueError if it would
        leave the limits (checked against the position read just before)."""
        step = _whole(dx, "dx"), _whole(dy, "dy")
        x, y = self.position()
        self.check_target(x + step[0], y + step[1])
        self._command(f"MR {step[0]} {step[1]}")

    def home(self) -> None:
        """Start a move to (0, 0)."""
        self._command("HOME")

    def stop(self) -> None:
        """Stop any motion at once. A safety command (`Driver._make_safe`): sent even
        while the caller is being cancelled and through a reconnection, retried for
        `safe_wait` seconds while the link is down, then sent after the next reconnection."""
        self._make_safe(self._do_shutdown)

    def wait_until_stopped(self, poll: float = 0.05, timeout: float | None = 60.0) -> None:
        """Poll BUSY? every `poll` s until the stage stops; DeviceTimeoutError after
        `timeout` s (None: no limit). Each poll is a command, so a cancel check stops it."""
        if not poll > 0:
            raise ValueError(f"poll must be > 0 s, not {poll}")
        if timeout is not None and not timeout >= 0:
            raise ValueError(f"timeout must be >= 0 s or None, not {timeout}")
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.is_moving():
            if deadline is not None and time.monotonic() >= deadline:
                raise DeviceTimeoutError(
                    f"still moving after {timeout:g} s", port=self.transport.name, command="BUSY?"
                )
            time.sleep(poll)

    def check_target(self, x: int, y: int) -> None:
        """ValueError, with the limits in the message, if (x, y) is outside them."""
        limits = self._limits or self.limits()
        if not limits.contains(x, y):
            raise ValueError(
                f"target ({x}, {y}) is outside the stage's limits: {limits.describe()}"
            )

    # -- hooks ---------------------------------------------------------------------------

    def _do_initialise(self) -> None:
        self._do_identify()
        self.limits()

    def _do_shutdown(self) -> None:
        self._command("ST")

    def _do_identify(self) -> str:
        reply = self._query("ID?").strip()
        if not reply:
            raise self._bad_reply("ID?", reply, "an identity")
        return reply

    # -- replies -------------------------------------------------------------------------

    def _query(self, command: str) -> str:
        """The reply to `command`; StageReportedError if the controller refused it."""
        reply = self.transport.query(command)
        if reply.startswith("ERR"):
            match = _ERROR.fullmatch(reply.strip())
            if match is None:
                raise self._bad_reply(command, reply, "'ERR <code> <message>'")
            raise StageReportedError(
                int(match.group(1)),
                match.group(2) or "no message",
                port=self.transport.name,
                command=command,
            )
        return reply

    def _command(self, command: str) -> None:
        """Send a command whose only good reply is OK."""
        reply = self._query(command)
        if reply != "OK":
            raise self._bad_reply(command, reply, "OK")

    def _pair(self, command: str) -> tuple[int, int]:
        reply = self._query(command)
        match = _PAIR.fullmatch(reply.strip())
        if match is None:
            raise self._bad_reply(command, reply, "'x y'")
        return int(match.group(1)), int(match.group(2))


def _whole(value: object, name: str) -> int:
    """`value` as a 32-bit int; TypeError for non-integers, ValueError out of range."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    if not MIN_COORDINATE <= value <= MAX_COORDINATE:
        raise ValueError(f"{name} = {value} is outside the controller's 32-bit range")
    return value
