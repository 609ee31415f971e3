"""Server-Sent Events responses over hub subscriptions.

Each stream sends `event:`/`id:`/`data:` messages (ids are `<hub epoch>.<n>`, so a
client's `Last-Event-ID` resumes from the replay buffer of the same server run), or,
where `?messages=unnamed` asks (the `unnamed-messages` feature, which TD forms use),
messages without an event name: generic WoT consumers (node-wot) listen only to those
and read each one's data as the value. Streams also send a
`: keep-alive` comment after every quiet heartbeat interval, and a `missed` event with
a count when the client fell behind and updates were dropped. A stream ends when the
client goes away, when `until(event)` says so, or when the server shuts down.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from typing import Any

from flask import Request, Response

from labthings.core.describe.operations import Target, problem_response
from labthings.core.errors import ValidationError
from labthings.core.jsonvalues import json_text
from labthings.core.live.hub import Event, EventHub, Missed, Subscription

__all__ = [
    "Transform",
    "document",
    "document_unnamed",
    "last_event_id",
    "sse_response",
    "unnamed_messages",
]

Transform = Callable[[Event], tuple[str | None, Any]]
"""An event's SSE message name (None: unnamed) and data."""
_MESSAGES = ("named", "unnamed")


def unnamed_messages(args: Mapping[str, str]) -> bool:
    """Whether `?messages=unnamed` asks for messages without event names (422 for a
    value other than `named` or `unnamed`)."""
    raw = args.get("messages", "named")
    if raw not in _MESSAGES:
        raise ValidationError(
            "invalid query parameters", {"messages": [f"{raw!r} is not named or unnamed"]}
        )
    return raw == "unnamed"


def last_event_id(request: Request, hub: EventHub) -> tuple[int | None, bool]:
    """(id to resume after, whether the client's id belonged to another server run)."""
    raw = request.headers.get("Last-Event-ID") or request.args.get("lastEventId")
    if not raw:
        return None, False
    epoch, _, number = raw.strip().partition(".")
    # ASCII digits only, and no more than an event id can have: int() refuses other
    # digits and numbers of more than 4300 digits.
    if epoch == hub.epoch and number.isascii() and number.isdigit() and len(number) <= 19:
        return int(number), False
    return None, True


def _message(kind: str | None, data: Any, event_id: str | None = None) -> str:
    lines = [] if kind is None else [f"event: {kind}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append("data: " + json_text(data))
    return "\n".join(lines) + "\n\n"


def sse_response(
    hub: EventHub,
    subscription: Subscription,
    *,
    heartbeat: float,
    first: Iterable[tuple[str | None, Any]] = (),
    transform: Transform = lambda event: (event.kind, event.data),
    until: Callable[[Event], bool] = lambda event: False,
    resumed_elsewhere: bool = False,
    only_first: bool = False,
) -> Response:
    """A `text/event-stream` response that relays `subscription` until it ends.

    `first` messages go out before any event (e.g. the current state); with
    `only_first` the stream ends after them. The subscription is always closed when the
    stream ends, even by a client gone before the first byte was sent.
    """

    def generate() -> Generator[str, None, None]:
        try:
            yield "retry: 2000\n\n"
            if resumed_elsewhere:
                yield _message("missed", {"count": None})
            for kind, data in first:
                yield _message(kind, data)
            while not only_first:
                item = subscription.get(heartbeat)
                if item is None:
                    if subscription.closed:
                        return
                    yield ": keep-alive\n\n"
                elif isinstance(item, Missed):
                    yield _message("missed", {"count": item.count})
                else:
                    kind, data = transform(item)
                    yield _message(kind, data, f"{hub.epoch}.{item.id}")
                    if until(item):
                        return
        finally:
            subscription.close()

    return Response(
        _Closing(generate(), subscription),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


class _Closing:
    """The stream's body: closing it closes the subscription, started or not.

    A generator that never ran ignores `close()`, so its `finally` would not run and
    the subscription would count against the stream cap for ever.
    """

    def __init__(self, messages: Generator[str, None, None], subscription: Subscription) -> None:
        self._messages = messages
        self._subscription = subscription

    def __iter__(self) -> Iterator[str]:
        return self._messages

    def close(self) -> None:
        self._messages.close()
        self._subscription.close()


_MESSAGE_SCHEMA = {
    "type": "object",
    "description": "One Server-Sent Events message; `data` is JSON text.",
    "properties": {
        "event": {"type": "string"},
        "id": {"type": "string"},
        "data": {"type": "string"},
    },
}


def document(operation: dict[str, Any], target: Target) -> None:
    """The `event-stream` feature: a `text/event-stream` 200, `Last-Event-ID`, and what
    every stream sends besides its own events.

    OpenAPI cannot describe the messages inside a stream, so the description says them.
    """
    operation.setdefault("parameters", []).append(
        {
            "name": "Last-Event-ID",
            "in": "header",
            "description": "Resume after this event id (sent by EventSource on reconnection).",
            "schema": {"type": "string"},
        }
    )
    operation["description"] = (
        operation.get("description", "")
        + ' A `missed` event ({"count": n}) says updates were dropped because the client'
        " fell behind; `: keep-alive` comments arrive while nothing happens."
    ).strip()
    responses = operation.setdefault("responses", {})
    responses["200"] = {
        "description": "An event stream.",
        "content": {"text/event-stream": {"schema": _MESSAGE_SCHEMA}},
    }
    responses.setdefault("404", {"description": "Unknown thing, affordance or invocation."})
    responses["503"] = problem_response("As many streams as the server allows are open.")


def document_unnamed(operation: dict[str, Any], target: Target) -> None:
    """The `messages` query parameter (`unnamed`: data-only messages) and its 422."""
    operation.setdefault("parameters", []).append(
        {
            "name": "messages",
            "in": "query",
            "description": "`unnamed`: messages without an event name, each one's data the"
            " value alone (what generic WoT consumers such as node-wot read; TD forms ask"
            " for it); `named` (the default): messages named as described.",
            "schema": {"type": "string", "enum": list(_MESSAGES), "default": "named"},
        }
    )
    operation["responses"]["422"] = problem_response("`messages` is not named or unnamed.", True)
