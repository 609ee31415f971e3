"""Executors: where a compute action's work goes when it does not run in the server.

An action declared `@action(executor="celery")` runs in a task thread like any other
unless the task runner has an executor of that name (`TaskRunner.executors`). With one,
the task thread calls `submit` instead of the action: it sends the work away and returns
a `RemoteJob` whose `check` and `cancel` are methods of the executor, so the remote-job
machinery (remote.py) follows it with back-off, stores it and resumes it after a
restart, exactly as it follows a Thing's own remote jobs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from labthings.core.tasks.remote_job import RemoteJob
    from labthings.core.things.actions import ActionAffordance

__all__ = ["Executor"]


class Executor(Protocol):
    """Runs compute actions elsewhere; the owner of their remote jobs' check methods."""

    def submit(
        self, thing: object, affordance: ActionAffordance, arguments: dict[str, Any]
    ) -> RemoteJob[Any]:
        """Send `affordance` of `thing` with its validated `arguments` away, from the
        invocation's task thread (`current_task()`); a `RemoteJob` checked by this
        executor's methods. Its output, once checked, is already JSON. Raises (and the
        invocation ends in `error`) if the work cannot be sent."""
        ...

    def close(self) -> None:
        """Let go of connections (after the server's shutdown); idempotent."""
        ...
