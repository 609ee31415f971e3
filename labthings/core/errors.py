"""The exceptions labthings raises, under one root.

The core raises these without knowing about HTTP; `labthings.http.problems` maps each
to a status code in one place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class LabThingsError(Exception):
    """Root of every error labthings raises on purpose."""


class ConfigurationError(LabThingsError):
    """A Thing, affordance or server was declared or registered wrongly."""


class NotFoundError(LabThingsError):
    """An unknown Thing, affordance or invocation was asked for."""


class ValidationError(LabThingsError):
    """Input did not match an affordance's schema.

    `errors` maps each bad field (or `_schema` for the whole body) to its messages.
    """

    def __init__(self, message: str, errors: Mapping[str, Sequence[str]]) -> None:
        super().__init__(message)
        self.errors: dict[str, list[str]] = {key: list(value) for key, value in errors.items()}


class MethodNotAllowedError(LabThingsError):
    """The affordance exists but does not support the operation (e.g. writing a read-only
    property). `allowed` lists the HTTP methods that would work."""

    def __init__(self, message: str, allowed: Sequence[str]) -> None:
        super().__init__(message)
        self.allowed = list(allowed)


class ConflictError(LabThingsError):
    """The request conflicts with the current state (a finished task, a busy instrument)."""


class InstrumentBusyError(ConflictError):
    """The Thing's instrument lock could not be taken in time; says who holds it."""


class TaskFinishedError(ConflictError):
    """Cancelling a task that has already finished."""


class ThingOpenError(LabThingsError):
    """A Thing's `__enter__` failed when the server started; says which Thing and why.

    The original exception is its `__cause__`.
    """

    def __init__(self, name: str, error: Exception) -> None:
        detail = f": {error}" if str(error) else ""
        super().__init__(f"thing {name!r} failed to open: {type(error).__name__}{detail}")
        self.name = name


class ServerBusyError(LabThingsError):
    """The server cannot take this request now (a queue is full, no thread can start);
    nothing was created, and the same request may work shortly."""


class ShuttingDownError(LabThingsError):
    """The server is stopping and accepts no new invocations."""


class TaskCancelled(LabThingsError):  # noqa: N818 - reads as an event, like KeyboardInterrupt
    """Raised inside a task by `raise_if_cancelled()` when its cancellation was asked for.

    Letting it propagate ends the task with status `cancelled`.
    """


class ActionFailed(LabThingsError):
    """An action failed for a reason its message says in full (a program's exit code and
    error output, say): the invocation ends in `error` with that message, and the server
    logs it without a traceback."""


class RemoteActionFailed(ActionFailed):
    """An action failed elsewhere (on a compute worker), which described the failure as
    an RFC 9457 `problem`: the invocation ends in `error` with that problem as it is."""

    def __init__(self, problem: Mapping[str, Any]) -> None:
        super().__init__(str(problem.get("detail") or problem.get("title") or "failed"))
        self.problem: dict[str, Any] = dict(problem)


class ProgramFailed(ActionFailed):
    """An external program run by `run_program` failed: a non-zero exit, a timeout, or a
    missing or malformed result file.

    `returncode` is its exit code (None if it did not exit by itself), `stderr_tail`
    the last lines of its error output.
    """

    def __init__(
        self, message: str, *, returncode: int | None = None, stderr_tail: Sequence[str] = ()
    ) -> None:
        super().__init__(message)
        self.returncode = returncode
        self.stderr_tail = list(stderr_tail)


class ProgramNotFound(ProgramFailed):
    """The program `run_program` was asked to run does not exist (or is not executable)."""
