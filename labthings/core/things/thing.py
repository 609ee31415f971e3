"""`Thing`: the base class of an instrument served by labthings."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, ClassVar, TypeVar

from labthings.core.errors import ConfigurationError
from labthings.core.live.hub import ThingPublisher
from labthings.core.things.actions import ActionAffordance
from labthings.core.things.affordance import Affordance
from labthings.core.things.events import EventAffordance
from labthings.core.things.properties import PropertyAffordance

__all__ = ["Thing"]

_A = TypeVar("_A", bound=Affordance)
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

    error_statuses: ClassVar[Mapping[type[Exception], int]] = {}
    """HTTP statuses for exceptions this Thing's code raises while serving a request
    (e.g. a driver's DisconnectedError: 503). The server registers them when the Thing
    is added; the most specific class wins."""

    _affordances: ClassVar[dict[str, Affordance]] = {}
    _labthings_publisher: ThingPublisher | None = None  # set when a LabThing serves it
    _labthings_save: Callable[[str, Any], None] | None = None  # saves persisted properties

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found: dict[str, object] = {}
        for klass in reversed(cls.__mro__):
            found.update(vars(klass))  # a subclass's attribute hides its bases' one
        cls._affordances = {n: v for n, v in found.items() if isinstance(v, Affordance)}
        for affordance in cls._affordances.values():
            affordance.check(cls)

    @classmethod
    def affordance(cls, name: str, kind: type[_A]) -> _A | None:
        """The affordance called `name` if it is a `kind` (an action, ...), else None."""
        found = cls._affordances.get(name)
        return found if isinstance(found, kind) else None

    @classmethod
    def affordances(cls, kind: type[_A]) -> dict[str, _A]:
        """The affordances of this Thing class that are `kind`s, by name, in declaration order."""
        return {n: a for n, a in cls._affordances.items() if isinstance(a, kind)}

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
        return cls.affordances(ActionAffordance)

    @classmethod
    def properties(cls) -> dict[str, PropertyAffordance]:
        """The properties of this Thing class, by name."""
        return cls.affordances(PropertyAffordance)

    @classmethod
    def events(cls) -> dict[str, EventAffordance]:
        """The events this Thing class declares, by name."""
        return cls.affordances(EventAffordance)

    def emit(self, name: str, data: Any = None) -> None:
        """Send a declared event to every subscriber; does nothing when not served.

        Raises ConfigurationError for an undeclared event and TypeError/ValueError if
        `data` cannot be sent as JSON.
        """
        affordance = self.affordance(name, EventAffordance)
        if affordance is None:
            raise ConfigurationError(
                f"{type(self).__name__} declares no event {name!r}; declare it with thing_event"
            )
        value = affordance.dump(data)
        if self._labthings_publisher is not None:
            self._labthings_publisher.event(name, value)

    def notify_property_changed(self, name: str, value: Any = _READ) -> None:
        """Tell watchers that a computed property changed (stored ones notify by themselves).

        Pass the new `value` if you have it; otherwise it is read (so from the hardware,
        for a getter), and only if someone watches.
        """
        affordance = self.affordance(name, PropertyAffordance)
        if affordance is None:
            raise ConfigurationError(f"{type(self).__name__} declares no property {name!r}")
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
