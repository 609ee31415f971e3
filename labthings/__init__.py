"""labthings: put laboratory instruments on the network.

Write a `Thing` subclass with `@action` methods and `thing_property` values, add it to a
`LabThing` server, and serve it with `labthings serve module:labthing`.
"""

from typing import TYPE_CHECKING

from labthings import fields
from labthings.actions import action
from labthings.context import (
    cancellable_sleep,
    raise_if_cancelled,
    update_task_data,
    update_task_progress,
)
from labthings.errors import (
    ConfigurationError,
    InstrumentBusyError,
    LabThingsError,
    NotFoundError,
    TaskCancelled,
    ValidationError,
)
from labthings.properties import thing_property
from labthings.settings import Settings
from labthings.tasks import TaskStatus, TaskThread, current_task
from labthings.thing import Thing
from labthings.thing_events import thing_event

if TYPE_CHECKING:  # for type checkers; at run time LabThing is imported on first use
    from labthings.server import LabThing

__version__ = "0.1.0"

__all__ = [
    "ConfigurationError",
    "InstrumentBusyError",
    "LabThing",
    "LabThingsError",
    "NotFoundError",
    "Settings",
    "TaskCancelled",
    "TaskStatus",
    "TaskThread",
    "Thing",
    "ValidationError",
    "__version__",
    "action",
    "cancellable_sleep",
    "current_task",
    "fields",
    "raise_if_cancelled",
    "thing_event",
    "thing_property",
    "update_task_data",
    "update_task_progress",
]


def __getattr__(name: str) -> object:
    # LabThing brings in Flask; import it on first use so that the core stays Flask-free.
    if name == "LabThing":
        from labthings.server import LabThing

        return LabThing
    raise AttributeError(f"module 'labthings' has no attribute {name!r}")
