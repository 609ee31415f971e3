"""A simulated SCPI programmable DC power supply with one output, reachable as `sim://psu`.

It speaks the instrument's command set (see `PowerSupplySimulator`), keeps its setpoints,
slews its output towards the voltage setpoint, regulates into a simulated load resistor
(constant voltage, or constant current once the current limit is reached) and queues SCPI
errors for bad commands, to be read one at a time with `SYST:ERR?`, as a real one does.
"""

from __future__ import annotations

import random
import re
import time
from collections import deque
from collections.abc import Callable
from typing import ClassVar

from devices.simulation import Simulator

__all__ = ["PowerSupplySimulator"]

# SCPI error codes the simulator queues (SCPI-99, volume 2, chapter 21).
NO_ERROR = (0, "No error")
DATA_TYPE_ERROR = (-104, "Data type error")
PARAMETER_NOT_ALLOWED = (-108, "Parameter not allowed")
MISSING_PARAMETER = (-109, "Missing parameter")
UNDEFINED_HEADER = (-113, "Undefined header")
DATA_OUT_OF_RANGE = (-222, "Data out of range")
ILLEGAL_PARAMETER_VALUE = (-224, "Illegal parameter value")
DEVICE_SPECIFIC_ERROR = (-300, "Device-specific error")
QUEUE_OVERFLOW = (-350, "Queue overflow")

_LONG_FORMS = {
    "VOLTAGE": "VOLT",
    "CURRENT": "CURR",
    "OUTPUT": "OUTP",
    "MEASURE": "MEAS",
    "SYSTEM": "SYST",
    "ERROR": "ERR",
    "SOURCE": "SOUR",
    "STATE": "STAT",
}
# Headers with optional nodes that a real instrument also accepts (`SOUR:` is one too).
_ALIASES = {
    ("OUTP", "STAT"): ("OUTP",),
    ("MEAS", "VOLT", "DC"): ("MEAS", "VOLT"),
    ("MEAS", "CURR", "DC"): ("MEAS", "CURR"),
    ("SYST", "ERR", "NEXT"): ("SYST", "ERR"),
}
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:E[+-]?\d+)?", re.IGNORECASE)
_SWITCH = {"ON": True, "1": True, "OFF": False, "0": False}


class PowerSupplySimulator(Simulator):
    """A one-output bench supply, 0-30 V and 0-5 A, behind an SCPI command set.

    Commands (case-insensitive, short or long keyword forms, optional `SOUR:`):
    `*IDN?`, `*RST`, `*CLS`, `SYST:ERR?`, `VOLT <v>`, `VOLT?`, `CURR <a>`, `CURR?`,
    `OUTP ON|OFF|1|0`, `OUTP?`, `MEAS:VOLT?`, `MEAS:CURR?`. Sets have no reply. A bad
    command or value is not executed: it queues an error and (for a query) gets no reply.

    `load_ohms` is the resistor on the output terminals (None: open circuit); tests may
    change it, `identity` and `slew_rate`, and read `voltage_setpoint`, `current_limit`,
    `output_on` and the error queue `errors`.
    """

    kind = "psu"
    max_voltage: ClassVar[float] = 30.0
    max_current: ClassVar[float] = 5.0
    command_seconds: ClassVar[float] = 0.002
    measure_seconds: ClassVar[float] = 0.02
    reset_seconds: ClassVar[float] = 0.05
    voltage_noise: ClassVar[float] = 0.001
    current_noise: ClassVar[float] = 0.0002
    error_queue_size: ClassVar[int] = 20

    def __init__(self, load_ohms: float | None = 10.0) -> None:
        super().__init__()
        self.load_ohms = load_ohms
        self.identity = "Labthings Sim,PSU-3005,SN0001,1.0"
        """What `*IDN?` answers."""
        self.slew_rate = 1000.0
        """How fast the output follows the voltage setpoint, in volts per second."""
        self.errors: deque[tuple[int, str]] = deque()
        """The SCPI error queue, oldest first."""
        self._random = random.Random()
        self.voltage_setpoint = 0.0
        self.current_limit = 1.0
        self.output_on = False
        self._level_from = 0.0
        self._level_to = 0.0
        self._level_since = time.monotonic()

    # -- what the instrument does -------------------------------------------------------

    def handle(self, command: str) -> str | None:
        """Execute one command line; the reply, or None for sets and rejected commands."""
        time.sleep(self.command_seconds)
        header, _, argument = command.strip().partition(" ")
        argument = argument.strip()
        key = self._canonical(header)
        query = key.endswith("?")
        if key not in _HANDLERS:
            self.queue_error(UNDEFINED_HEADER)
            return None
        if query and argument:
            self.queue_error(PARAMETER_NOT_ALLOWED)
            return None
        if not query and key not in _NO_ARGUMENT and not argument:
            self.queue_error(MISSING_PARAMETER)
            return None
        if key in _NO_ARGUMENT and argument:
            self.queue_error(PARAMETER_NOT_ALLOWED)
            return None
        return _HANDLERS[key](self, argument)

    def error_reply(self, command: str) -> str | None:
        """The instrument fails the command: a set queues an error and replies nothing.

        A query gets the error entry itself as its reply (and queues nothing), so that
        the driver's recognition of error entries in place of a value is exercised.
        """
        with self.lock:
            if "?" in command:
                return _entry(DEVICE_SPECIFIC_ERROR)
            self.queue_error(DEVICE_SPECIFIC_ERROR)
            return None

    def queue_error(self, error: tuple[int, str]) -> None:
        """Queue an SCPI error; a full queue's newest entry becomes `-350,"Queue overflow"`."""
        with self.lock:
            if len(self.errors) >= self.error_queue_size:
                self.errors[-1] = QUEUE_OVERFLOW
            else:
                self.errors.append(error)

    def measure(self) -> tuple[float, float]:
        """The (volts, amps) at the output terminals now, without noise."""
        with self.lock:
            if not self.output_on:
                return 0.0, 0.0
            level = self._level(time.monotonic())
            if self.load_ohms is None:
                return level, 0.0
            amps = level / self.load_ohms if self.load_ohms > 0 else float("inf")
            if amps <= self.current_limit:
                return level, amps
            return self.current_limit * self.load_ohms, self.current_limit  # constant current

    # -- commands ------------------------------------------------------------------------

    def _identify(self, argument: str) -> str:
        return self.identity

    def _reset(self, argument: str) -> None:
        time.sleep(self.reset_seconds)
        self.voltage_setpoint = 0.0
        self.current_limit = 1.0
        self.output_on = False
        self._retarget()

    def _clear_status(self, argument: str) -> None:
        self.errors.clear()

    def _next_error(self, argument: str) -> str:
        return _entry(self.errors.popleft() if self.errors else NO_ERROR)

    def _set_voltage(self, argument: str) -> None:
        value = self._number(argument, self.max_voltage)
        if value is not None:
            self.voltage_setpoint = round(value, 3)
            self._retarget()

    def _set_current(self, argument: str) -> None:
        value = self._number(argument, self.max_current)
        if value is not None:
            self.current_limit = round(value, 3)

    def _set_output(self, argument: str) -> None:
        state = _SWITCH.get(argument.upper())
        if state is None:
            self.queue_error(ILLEGAL_PARAMETER_VALUE)
            return
        self.output_on = state
        self._retarget()

    def _get_voltage(self, argument: str) -> str:
        return _nr3(self.voltage_setpoint)

    def _get_current(self, argument: str) -> str:
        return _nr3(self.current_limit)

    def _get_output(self, argument: str) -> str:
        return "1" if self.output_on else "0"

    def _measure_voltage(self, argument: str) -> str:
        time.sleep(self.measure_seconds)
        return _nr3(self._noisy(self.measure()[0], self.voltage_noise))

    def _measure_current(self, argument: str) -> str:
        time.sleep(self.measure_seconds)
        return _nr3(self._noisy(self.measure()[1], self.current_noise))

    # -- helpers -------------------------------------------------------------------------

    @staticmethod
    def _canonical(header: str) -> str:
        """The short form of a command header, optional nodes dropped: `VOLT`, `MEAS:CURR?`."""
        query = header.endswith("?")
        text = header.upper().lstrip(":").removesuffix("?")
        nodes = tuple(_LONG_FORMS.get(node, node) for node in text.split(":"))
        if nodes[0] == "SOUR" and nodes[1:] in {("VOLT",), ("CURR",)}:
            nodes = nodes[1:]
        nodes = _ALIASES.get(nodes, nodes)
        return ":".join(nodes) + ("?" if query else "")

    def _number(self, argument: str, maximum: float) -> float | None:
        """A numeric parameter in 0..maximum, or None after queueing the error."""
        if not _NUMBER.fullmatch(argument):
            self.queue_error(DATA_TYPE_ERROR)
            return None
        value = float(argument)
        if not 0.0 <= value <= maximum:
            self.queue_error(DATA_OUT_OF_RANGE)
            return None
        return value

    def _noisy(self, value: float, sigma: float) -> float:
        return max(0.0, value + self._random.gauss(0.0, sigma))

    def _level(self, now: float) -> float:
        """The programmed output voltage at `now`, slewing from `_level_from` to `_level_to`."""
        travelled = self.slew_rate * (now - self._level_since)
        if self._level_to >= self._level_from:
            return min(self._level_to, self._level_from + travelled)
        return max(self._level_to, self._level_from - travelled)

    def _retarget(self) -> None:
        """Start slewing from the present level to the setpoint (off: 0 V at once)."""
        now = time.monotonic()
        self._level_from = self._level(now) if self.output_on else 0.0
        self._level_to = self.voltage_setpoint if self.output_on else 0.0
        self._level_since = now


def _entry(error: tuple[int, str]) -> str:
    """An error queue entry as `SYST:ERR?` returns it: `-222,"Data out of range"`."""
    return f'{error[0]},"{error[1]}"'


def _nr3(value: float) -> str:
    """A number in SCPI NR3 form, as the instrument sends it: `+5.00000000E+00`."""
    return f"{value:+.8E}"


_NO_ARGUMENT = {"*RST", "*CLS"}
_HANDLERS: dict[str, Callable[[PowerSupplySimulator, str], str | None]] = {
    "*IDN?": PowerSupplySimulator._identify,
    "*RST": PowerSupplySimulator._reset,
    "*CLS": PowerSupplySimulator._clear_status,
    "SYST:ERR?": PowerSupplySimulator._next_error,
    "VOLT": PowerSupplySimulator._set_voltage,
    "VOLT?": PowerSupplySimulator._get_voltage,
    "CURR": PowerSupplySimulator._set_current,
    "CURR?": PowerSupplySimulator._get_current,
    "OUTP": PowerSupplySimulator._set_output,
    "OUTP?": PowerSupplySimulator._get_output,
    "MEAS:VOLT?": PowerSupplySimulator._measure_voltage,
    "MEAS:CURR?": PowerSupplySimulator._measure_current,
}
