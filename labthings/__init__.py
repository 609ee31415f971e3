"""labthings: put laboratory instruments on the network.

Write a `Thing` subclass with `@action` methods and `thing_property` values, add it to a
`LabThing` server, and serve it with `labthings serve module:labthing`.
"""

from typing import TYPE_CHECKING

from labthings import fields
from labthings.core.access.tokens import TokenStore
from labthings.core.errors import (
    ActionFailed,
    ConfigurationError,
    InstrumentBusyError,
    LabThingsError,
    NotFoundError,
    ProgramFailed,
    ProgramNotFound,
    TaskCancelled,
    ValidationError,
)
from labthings.core.programs import program_folder, run_program
from labthings.core.settings import Settings
from labthings.core.tasks.action_api import (
    cancellable_sleep,
    raise_if_cancelled,
    update_task_data,
    update_task_progress,
)
from labthings.core.tasks.record import TaskStatus
from labthings.core.tasks.remote_job import RemoteJob
from labthings.core.tasks.thread import TaskThread, current_task
from labthings.core.things.actions import action
from labthings.core.things.blob import Blob
from labthings.core.things.events import thing_event
from labthings.core.things.properties import thing_property
from labthings.core.things.thing import Thing

if TYPE_CHECKING:  # for type checkers; at run time LabThing is imported on first use
    from labthings.http.labthing import LabThing

__version__ = "0.1.0"

__all__ = [
    "ActionFailed",
    "Blob",
    "ConfigurationError",
    "InstrumentBusyError",
    "LabThing",
    "LabThingsError",
    "NotFoundError",
    "ProgramFailed",
    "ProgramNotFound",
    "RemoteJob",
    "Settings",
    "TaskCancelled",
    "TaskStatus",
    "TaskThread",
    "Thing",
    "TokenStore",
    "ValidationError",
    "__version__",
    "action",
    "cancellable_sleep",
    "current_task",
    "fields",
    "program_folder",
    "raise_if_cancelled",
    "run_program",
    "thing_event",
    "thing_property",
    "update_task_data",
    "update_task_progress",
]


def __getattr__(name: str) -> object:
    # LabThing brings in Flask; import it on first use so that the core stays Flask-free.
    if name == "LabThing":
        from labthings.http.labthing import LabThing

        return LabThing
    raise AttributeError(f"module 'labthings' has no attribute {name!r}")
