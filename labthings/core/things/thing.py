"""`Thing`: the base class of an instrument served by labthings."""

from __future__ import annotations

import inspect
from types import TracebackType
from typing import Any, ClassVar

from labthings.core.errors import ConfigurationError
from labthings.core.live.hub import ThingPublisher
from labthings.core.things.actions import ActionAffordance
from labthings.core.things.events import EventAffordance
from labthings.core.things.properties import PropertyAffordance

__all__ = ["Thing"]

_READ: Any = object()  # notify_property_changed: read the value


class Thing:
    """Base class for an instrument: subclass it and declare affordances on the class.

    Methods decorated with `@action` become actions, `thing_property` declarations
    become properties and `thing_event` declarations events (sent with `emit`).
    Override `__enter__`/`__exit__` to open hardware when the server starts and release
    it when the server stops; both default to doing nothing.

    Class attributes: `title` (default: the class name), `description` (default: the
    class docstring), `version` (published in the Thing Description).
    """

    title: ClassVar[str | None] = None
    description: ClassVar[str | None] = None
    version: ClassVar[str] = "1.0.0"

    _actions: ClassVar[dict[str, ActionAffordance]] = {}
    _properties: ClassVar[dict[str, PropertyAffordance]] = {}
    _events: ClassVar[dict[str, EventAffordance]] = {}
    _labthings_publisher: ThingPublisher | None = None  # set when a LabThing serves it

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found: dict[str, object] = {}
        for klass in reversed(cls.__mro__):
            found.update(vars(klass))  # a subclass's attribute hides its bases' one
        cls._actions = {n: v for n, v in found.items() if isinstance(v, ActionAffordance)}
        cls._properties = {n: v for n, v in found.items() if isinstance(v, PropertyAffordance)}
        cls._events = {n: v for n, v in found.items() if isinstance(v, EventAffordance)}

    @classmethod
    def thing_title(cls) -> str:
        """The human-readable title: `title` if set, else the class name."""
        return cls.title or cls.__name__

    @classmethod
    def thing_description(cls) -> str:
        """A description: `description` if set, else the class docstring."""
        return cls.description or inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def actions(cls) -> dict[str, ActionAffordance]:
        """The actions of this Thing class, by name."""
        return dict(cls._actions)

    @classmethod
    def properties(cls) -> dict[str, PropertyAffordance]:
        """The properties of this Thing class, by name."""
        return dict(cls._properties)

    @classmethod
    def events(cls) -> dict[str, EventAffordance]:
        """The events this Thing class declares, by name."""
        return dict(cls._events)

    def emit(self, name: str, data: Any = None) -> None:
        """Send a declared event to every subscriber; does nothing when not served.

        Raises ConfigurationError for an undeclared event and TypeError/ValueError if
        `data` cannot be sent as JSON.
        """
        try:
            affordance = type(self)._events[name]
        except KeyError:
            raise ConfigurationError(
                f"{type(self).__name__} declares no event {name!r}; declare it with thing_event"
            ) from None
        value = affordance.dump(data)
        if self._labthings_publisher is not None:
            self._labthings_publisher.event(name, value)

    def notify_property_changed(self, name: str, value: Any = _READ) -> None:
        """Tell watchers that a computed property changed (stored ones notify by themselves).

        Pass the new `value` if you have it; otherwise it is read (so from the hardware,
        for a getter), and only if someone watches.
        """
        affordance = type(self)._properties[name]
        publisher = self._labthings_publisher
        if publisher is not None and publisher.watching_property(name):
            current = getattr(self, name) if value is _READ else value
            publisher.property_changed(name, affordance.dump(current))

    def __enter__(self) -> Thing:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None
