"""What can go wrong for a client, as one family of exceptions.

Every exception carries `problem`, an RFC 9457 problem object (the server's own when it
sent one, else one made here with a `title` and `detail`), and `status`, the HTTP status
that brought it or None when nothing was sent or nothing came back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "AccessDenied",
    "ClientError",
    "InvalidArguments",
    "InvalidInput",
    "InvocationCancelled",
    "InvocationError",
    "InvocationFailed",
    "InvocationGone",
    "NotFound",
    "NotOffered",
    "RequestFailed",
    "ServerUnreachable",
    "WaitTimeout",
]


class ClientError(Exception):
    """The root of the client's exceptions: `str()` is a sentence saying what happened."""

    def __init__(
        self, message: str, problem: Mapping[str, Any] | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.problem: dict[str, Any] = dict(problem or {"title": message})
        self.status = status


class ServerUnreachable(ClientError):
    """No server answered at the URL (refused, unknown host, no answer in time), or a lost
    connection could not be regained within the client's patience."""


class NotOffered(ClientError, LookupError):
    """The Thing Description has no such property, action or event, or no form for what
    was asked (writing a read-only property, say). Nothing was sent."""


class RequestFailed(ClientError):
    """The server answered with an error status; `problem` is the body it sent."""


class AccessDenied(RequestFailed):
    """401 (no access token, or one the server does not know) or 403 (a read token that
    writes, say)."""


class NotFound(RequestFailed):
    """404: the server does not know what the URL names (a Thing, an invocation...)."""


class InvalidInput(RequestFailed, ValueError):
    """A value or an action's arguments do not fit their schema: refused by the server
    (422, with its `errors` member per field) or by the client's check before sending
    (`status` None)."""


class InvalidArguments(InvalidInput, TypeError):
    """An action was called with an argument it does not declare, or without one it
    requires. Nothing was sent."""


class InvocationError(ClientError):
    """An invocation did not complete; `record` is its last known invocation record."""

    def __init__(
        self,
        message: str,
        record: Mapping[str, Any],
        problem: Mapping[str, Any] | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, problem, status)
        self.record: dict[str, Any] = dict(record)


class InvocationFailed(InvocationError):
    """The invocation ended in `error`; `problem` is the record's `error` (its `type` is
    `urn:labthings:problem:interrupted` when the server stopped while it ran)."""


class InvocationCancelled(InvocationError):
    """The invocation ended `cancelled`."""


class InvocationGone(InvocationError):
    """The server no longer knows the invocation (a server restarted without its history,
    or one that evicted it); its outcome cannot be learnt."""


class WaitTimeout(ClientError, TimeoutError):
    """A wait ended at its timeout with the invocation still unfinished (it goes on)."""
