"""How a client command ended, as an exit status: the meaning of each, the status of an
error, and the worst of several (a command over several servers)."""

from __future__ import annotations

from collections.abc import Iterable

from labthings.client.errors import (
    ClientError,
    InvalidInput,
    InvocationCancelled,
    NotOffered,
    RequestFailed,
    ServerUnreachable,
    WaitTimeout,
)

__all__ = ["EXIT_STATUSES", "SEVERITY", "UsageError", "exit_status", "worst_status"]

EXIT_STATUSES = {
    0: "done: the action completed, the value was read or written",
    1: "the action ended in error, or the server failed (5xx) or lost the invocation",
    2: "the command line is wrong: an unknown thing, property or action, or arguments "
    "that do not fit the action (checked before anything is sent)",
    3: "the action was cancelled (Ctrl-C cancels it on the server)",
    4: "no server answered at URL, or it went away and did not come back in time",
    5: "the server refused the request: 401/403 (access token), 404, 409, 422 (a bad "
    "value) or another 4xx",
    6: "--timeout passed with the action still running (it goes on; its URL is printed)",
    130: "interrupted (Ctrl-C) during get, set or describe",
}
SEVERITY = (130, 2, 4, 5, 1, 3, 6, 0)
"""Exit statuses, worst first: a command over several servers exits with the worst of
theirs. The less that is known or done, the worse: nothing sent, then an outcome
unknown (a server lost), a request refused, an action failed, cancelled, still going."""


class UsageError(ClientError):
    """The command line does not make sense (checked before anything is sent)."""


def exit_status(error: ClientError) -> int:
    """The exit status of a command that ended with `error`."""
    if isinstance(error, UsageError | NotOffered) or (
        isinstance(error, InvalidInput) and error.status is None
    ):
        return 2
    if isinstance(error, InvocationCancelled):
        return 3
    if isinstance(error, ServerUnreachable):
        return 4
    if isinstance(error, RequestFailed) and error.status is not None and error.status < 500:
        return 5
    if isinstance(error, WaitTimeout):
        return 6
    return 1


def worst_status(statuses: Iterable[int]) -> int:
    """The worst of `statuses` by `SEVERITY` (0 if there are none)."""
    return min(statuses, key=SEVERITY.index, default=0)
