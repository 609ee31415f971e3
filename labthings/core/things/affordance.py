"""`Affordance`: what actions, properties and events of a Thing have in common.

Each is declared on a Thing class, learns its name from the attribute it is assigned
to, has a title and a description for the documents, and turns values into JSON through
a marshmallow field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from marshmallow import fields

from labthings.core.errors import ConfigurationError
from labthings.core.jsonvalues import to_json_value

__all__ = ["Affordance", "dump_value", "qualified_name"]


class Affordance:
    """Base of the affordance descriptors. `kind` names it in messages ("action", ...).

    A declaration that is wrong in a way only the owning class can name (a stored
    property without a default, say) is recorded with `_refuse` and raised by `check`,
    which `Thing.__init_subclass__` calls with the class, so the message says which
    Thing and which attribute are at fault.
    """

    kind: ClassVar[str] = "affordance"

    def __init__(self, *, name: str = "", title: str | None = None, description: str = "") -> None:
        self.name = name
        self.title = title
        self.description = description
        self._problem: str | None = None

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @property
    def display_title(self) -> str:
        """The title, or the name when no title was given."""
        return self.title or self.name

    def _refuse(self, problem: str) -> None:
        """Remember why this declaration cannot be served; `check` raises it."""
        self._problem = problem

    def check(self, owner: type) -> None:
        """Raise ConfigurationError naming `owner` and this affordance if it is unusable."""
        if self._problem is not None:
            raise ConfigurationError(
                f"{owner.__name__}: {self.kind} {self.name!r}: {self._problem}"
            )


def dump_value(field: fields.Field | None, name: str, value: Any) -> Any:
    """`value` as strict JSON, serialised by `field` when there is one.

    Raises TypeError/ValueError (or the field's own error) if it cannot be JSON.
    """
    if field is not None and value is not None:
        value = field.serialize(name, {name: value})
    return to_json_value(value)


def qualified_name(func: Callable[..., Any]) -> str:
    """`Stage.move` for a method, `move` for a function: how messages name a declaration."""
    return ".".join(func.__qualname__.split(".<locals>.")[-1].split(".")[-2:])
