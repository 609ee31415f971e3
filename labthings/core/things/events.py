"""`thing_event`: declare the events a Thing emits, so the TD and OpenAPI describe them.

    class Stage(Thing):
        limit_reached = thing_event(dict[str, int], description="An axis hit a limit.")

        def _check(self) -> None:
            self.emit("limit_reached", {"x": 10_000})

Clients subscribe to `GET /<thing>/events/<name>` (Server-Sent Events).
"""

from __future__ import annotations

from typing import Any

from marshmallow import fields

from labthings.core.describe.types import field_for_hint
from labthings.core.things.affordance import Affordance, dump_value

__all__ = ["EventAffordance", "thing_event"]


class EventAffordance(Affordance):
    """Metadata of one event: its data schema, title and description."""

    kind = "event"

    def __init__(
        self, field: fields.Field, *, title: str | None = None, description: str = ""
    ) -> None:
        super().__init__(title=title, description=description)
        self.field = field

    def dump(self, data: Any) -> Any:
        """`data` as JSON, serialised by the event's field; TypeError/ValueError if not JSON."""
        return dump_value(self.field, self.name, data)


def thing_event(
    data: fields.Field | Any = None, *, title: str | None = None, description: str = ""
) -> EventAffordance:
    """Declare an event whose data is described by a marshmallow field or a type hint
    (None: the event carries no data)."""
    if isinstance(data, fields.Field):
        return EventAffordance(data, title=title, description=description)
    field = field_for_hint(Any if data is None else data)
    return EventAffordance(field, title=title, description=description)
