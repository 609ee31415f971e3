"""`RemoteJob`: what an action returns when the work goes on elsewhere and must be asked.

An instrument or service that runs a job on its own (a plate reader's protocol, a cloud
analysis) is started by an action that returns `RemoteJob(check=..., state={...})`. The
server then calls the Thing's `check` method with `state` at growing intervals until it
returns something other than a `RemoteJob` (the output) or raises (the error). See
`remote.py` for how the checks are run.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from labthings.core.jsonvalues import to_json_value
from labthings.core.tasks.progress import checked_percent, checked_remaining

__all__ = [
    "DEFAULT_DELAY",
    "DEFAULT_FACTOR",
    "DEFAULT_MAX_INTERVAL",
    "MethodRef",
    "RemoteJob",
    "method_name",
]

DEFAULT_DELAY = 0.5
"""Seconds before the first check, unless the action says."""
DEFAULT_FACTOR = 2.0
"""How much each wait between checks grows, unless the action says."""
DEFAULT_MAX_INTERVAL = 30.0
"""The longest wait between checks that growth reaches, unless the action says."""

T = TypeVar("T")

MethodRef = str | Callable[..., Any]
"""A method of the invocation's Thing: its name, or the bound method."""


@dataclass(frozen=True)
class RemoteJob(Generic[T]):
    """A job still running elsewhere: check it later with `check(state)`.

    Returned by an action, it keeps the invocation `running` after the action's thread
    ends. Returned by a check, it says the job is still running, with a new `state`,
    `progress`, `message` or `remaining` (seconds left), and what `check` (and `cancel`)
    to call next. Annotate the action `-> RemoteJob[float]` for a job whose output is a
    float: the Thing Description then describes the output as a float.

    `check` and `cancel` name methods of the same Thing (by name or as bound methods);
    they are stored by name with the JSON `state`, so checking resumes after a restart.
    `cancel(state)`, if given, is called when a client cancels the invocation.

    The waits between checks: `delay` before the next one (the first is
    `DEFAULT_DELAY` unless given), each later one `factor` times the one before, up to
    `max_interval`. Left as None in a check's `RemoteJob`, they go on as they were.
    """

    check: MethodRef
    state: Any = field(default_factory=dict)
    message: str | None = None
    progress: float | None = None
    remaining: float | None = None
    delay: float | None = None
    factor: float | None = None
    max_interval: float | None = None
    cancel: MethodRef | None = None

    def __post_init__(self) -> None:
        """Check every value now, so a bad one fails the action or check that made it."""
        for name in ("check", "cancel"):
            value = getattr(self, name)
            if value is None and name == "cancel":
                continue
            if not (isinstance(value, str) and value.isidentifier()) and not callable(value):
                raise TypeError(f"RemoteJob {name} must be a method of the Thing or its name")
        try:
            object.__setattr__(self, "state", to_json_value(self.state))
        except (TypeError, ValueError) as error:
            raise TypeError(f"RemoteJob state must be a JSON value: {error}") from None
        if self.message is not None and not isinstance(self.message, str):
            raise TypeError(f"RemoteJob message must be a string, not {self.message!r}")
        checked_percent(self.progress)
        checked_remaining(self.remaining)
        _check_seconds("delay", self.delay, 0.0)
        _check_seconds("max_interval", self.max_interval, 1e-3)
        if self.factor is not None:
            _check_seconds("factor", self.factor, 1.0)


def _check_seconds(name: str, value: float | None, least: float) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"RemoteJob {name} must be a number, not {value!r}")
    if not math.isfinite(value) or value < least:
        raise ValueError(f"RemoteJob {name} must be a finite number >= {least}, not {value!r}")


def method_name(ref: MethodRef, thing: object) -> str:
    """The name of the method of `thing` that `ref` names; ValueError if it is not one."""
    if isinstance(ref, str):
        name = ref
    else:
        name = getattr(ref, "__name__", "")
        if getattr(ref, "__self__", None) is not thing:
            raise ValueError(
                f"RemoteJob methods must be methods of the same Thing; {name or ref!r} is not"
            )
    if not callable(getattr(thing, name, None)):
        raise ValueError(f"{type(thing).__name__} has no method {name!r}")
    return name
