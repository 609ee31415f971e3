"""Event-stream views (Server-Sent Events): tasks, properties and Thing events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, request

from labthings.core.live.hub import Event
from labthings.core.tasks.record import FINISHED, with_links
from labthings.core.things.events import EventAffordance
from labthings.core.things.properties import PropertyAffordance
from labthings.http.requests import server_root
from labthings.http.services import ServiceView
from labthings.http.sse import Transform, last_event_id, sse_response, unnamed_messages

__all__ = [
    "AllTasksStream",
    "EverythingStream",
    "PropertyStream",
    "TaskStream",
    "ThingEventStream",
    "ThingEventsStream",
]

_FINISHED = {status.value for status in FINISHED}


class _Stream(ServiceView):
    def _respond(
        self,
        accept: Callable[[Event], bool],
        first: Callable[[], list[tuple[str, Any]]] = list,
        *,
        transform: Transform = lambda event: (event.kind, event.data),
        until: Callable[[Event], bool] = lambda event: False,
        ends_after_first: Callable[[list[tuple[str, Any]]], bool] = lambda messages: False,
        resumable: bool = True,
        unnamed: bool = False,
    ) -> Response:
        """Subscribe, then read `first()` (so nothing between the two is lost), then stream.

        A client resuming with `Last-Event-ID` gets the replayed events instead of
        `first()`: the current state would otherwise arrive before older changes. With
        `resumable=False` every connection starts from `first()`; with `unnamed` the
        messages carry no event name (`missed` still does).
        """
        resume_after, elsewhere = last_event_id(request, self.services.hub)
        if not resumable:
            resume_after, elsewhere = None, False
        subscription = self.services.hub.subscribe(
            accept, resume_after, limit=self.services.settings.max_streams
        )
        try:
            initial = first() if resume_after is None else []
            ends = bool(initial) and ends_after_first(initial)
        except BaseException:
            subscription.close()
            raise
        messages: list[tuple[str | None, Any]] = [
            (None if unnamed else kind, data) for kind, data in initial
        ]

        def message(event: Event) -> tuple[str | None, Any]:
            kind, data = transform(event)
            return (None if unnamed else kind), data

        return sse_response(
            self.services.hub,
            subscription,
            heartbeat=self.services.settings.sse_heartbeat,
            resumed_elsewhere=elsewhere,
            first=messages,
            only_first=ends,
            transform=message,
            until=until,
        )

    def _records_with_links(self) -> Transform:
        root = server_root(request)

        def transform(event: Event) -> tuple[str, Any]:
            if event.kind == "record":
                return event.kind, with_links(event.data, root)
            return event.kind, event.data

        return transform


class TaskStream(_Stream):
    """`GET /actions/<id>/events`: the record now, each update and log line, the final
    record; then the stream ends. Reconnecting starts again from the record."""

    def get(self, id: str) -> Response:
        task = self.services.runner.get(id)
        topic = f"task/{task.id}"
        root = server_root(request)
        return self._respond(
            lambda event: event.topic == topic,
            first=lambda: [("record", with_links(task.snapshot(), root))],
            transform=self._records_with_links(),
            until=lambda event: event.kind == "record",
            ends_after_first=lambda messages: messages[0][1]["status"] in _FINISHED,
            # The record sent first is the whole state, so a reconnecting client needs
            # no replay (which would arrive after it, out of order).
            resumable=False,
        )


class AllTasksStream(_Stream):
    """`GET /actions/events`: updates, log lines and final records of every task
    (`?thing=` and `?action=` narrow it)."""

    def get(self) -> Response:
        thing = request.args.get("thing")
        action = request.args.get("action")

        def accept(event: Event) -> bool:
            return (
                event.topic.startswith("task/")
                and (thing is None or event.data.get("thing") == thing)
                and (action is None or event.data.get("action") == action)
            )

        return self._respond(accept, transform=self._records_with_links())


class PropertyStream(_Stream):
    """`GET /<thing>/properties/<name>/events`: the value now, then every change
    (event name: the property's name, or none with `?messages=unnamed`; data: the value)."""

    def get(self, thing: str, name: str) -> Response:
        entry = self.services.registry.get(thing)
        affordance = entry.affordance(name, PropertyAffordance)
        unnamed = unnamed_messages(request.args)
        topic = f"property/{entry.name}/{name}"
        return self._respond(
            lambda event: event.topic == topic,
            first=lambda: [(name, entry.read_property(affordance))],
            unnamed=unnamed,
        )


class ThingEventsStream(_Stream):
    """`GET /<thing>/events`: every event of the Thing (message name: the event's name)."""

    def get(self, thing: str) -> Response:
        prefix = f"event/{self.services.registry.get(thing).name}/"
        return self._respond(lambda event: event.topic.startswith(prefix))


class ThingEventStream(_Stream):
    """`GET /<thing>/events/<name>`: one event of the Thing (unnamed messages with
    `?messages=unnamed`)."""

    def get(self, thing: str, name: str) -> Response:
        entry = self.services.registry.get(thing)
        topic = f"event/{entry.name}/{entry.affordance(name, EventAffordance).name}"
        unnamed = unnamed_messages(request.args)
        return self._respond(lambda event: event.topic == topic, unnamed=unnamed)


class EverythingStream(_Stream):
    """`GET /events`: every task update, property change and Thing event of the server
    (`?thing=` narrows it to one Thing), on one connection.

    Task messages are as on `/actions/events`; a property change is a `property` message
    with data `{"thing", "name", "value"}` and a Thing event an `event` message with data
    `{"thing", "name", "data"}`.
    """

    def get(self) -> Response:
        thing = request.args.get("thing")
        if thing is not None:
            self.services.registry.get(thing)  # 404 for an unknown thing
        tasks = self._records_with_links()

        def accept(event: Event) -> bool:
            if thing is None:
                return True
            if event.topic.startswith("task/"):
                return bool(event.data.get("thing") == thing)
            return event.topic.split("/")[1] == thing

        def transform(event: Event) -> tuple[str | None, Any]:
            family, _, rest = event.topic.partition("/")
            if family == "property":
                owner, _, name = rest.partition("/")
                return "property", {"thing": owner, "name": name, "value": event.data}
            if family == "event":
                owner, _, name = rest.partition("/")
                return "event", {"thing": owner, "name": name, "data": event.data}
            return tasks(event)

        return self._respond(accept, transform=transform)
