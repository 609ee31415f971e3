"""`Thing`: the base class of an instrument served by labthings."""

from __future__ import annotations

import inspect
from types import TracebackType
from typing import Any, ClassVar

from labthings.actions import ActionAffordance
from labthings.properties import PropertyAffordance

__all__ = ["Thing"]


class Thing:
    """Base class for an instrument: subclass it and declare affordances on the class.

    Methods decorated with `@action` become actions and `thing_property` declarations
    become properties. Override `__enter__`/`__exit__` to open hardware when the server
    starts and release it when the server stops; both default to doing nothing.

    Class attributes: `title` (default: the class name), `description` (default: the
    class docstring), `version` (published in the Thing Description).
    """

    title: ClassVar[str | None] = None
    description: ClassVar[str | None] = None
    version: ClassVar[str] = "1.0.0"

    _actions: ClassVar[dict[str, ActionAffordance]] = {}
    _properties: ClassVar[dict[str, PropertyAffordance]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        actions: dict[str, ActionAffordance] = {}
        properties: dict[str, PropertyAffordance] = {}
        for klass in reversed(cls.__mro__):
            for name, value in vars(klass).items():
                if isinstance(value, ActionAffordance):
                    actions[name] = value
                    properties.pop(name, None)
                elif isinstance(value, PropertyAffordance):
                    properties[name] = value
                    actions.pop(name, None)
                elif name in actions or name in properties:  # overridden by a plain attribute
                    actions.pop(name, None)
                    properties.pop(name, None)
        cls._actions = actions
        cls._properties = properties

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

    def __enter__(self) -> Thing:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None
