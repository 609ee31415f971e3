"""`thing_property`: values of a Thing that clients read and write over HTTP.

Two forms:

* a stored value, declared with a marshmallow field or a type, and a default::

      speed = thing_property(fields.Float(validate=Range(0, 10)), default=1.0)
      name = thing_property(str, default="stage")

* a computed value, declared on a getter (read-only unless a setter is added)::

      @thing_property
      def position(self) -> list[int]:
          return self._driver.position()

      @position.setter
      def position(self, value: list[int]) -> None: ...

Python code of the Thing reads and assigns properties as plain attributes; only HTTP
writes are validated against the field and (unless `lock=False`) take the Thing's
instrument lock.
"""

from __future__ import annotations

import copy
import inspect
import logging
import typing
from collections.abc import Callable
from typing import Any, overload

import marshmallow
from marshmallow import fields

from labthings.core.describe.types import field_for_hint
from labthings.core.errors import ConfigurationError, ValidationError
from labthings.core.jsonvalues import flatten_errors, with_clean_text
from labthings.core.things.affordance import Affordance, dump_value, qualified_name

__all__ = ["PropertyAffordance", "thing_property"]

_logger = logging.getLogger(__name__)

Getter = Callable[[Any], Any]
Setter = Callable[[Any, Any], None]
_NO_DEFAULT: Any = object()


class PropertyAffordance(Affordance):
    """Metadata of one property, and the descriptor that stores or computes its value."""

    kind = "property"

    def __init__(
        self,
        field: fields.Field,
        *,
        default: Any = _NO_DEFAULT,
        getter: Getter | None = None,
        readonly: bool = False,
        lock: bool = True,
        persist: bool = False,
        title: str | None = None,
        description: str | None = None,
    ) -> None:
        super().__init__(
            name=getter.__name__ if getter else "",
            title=title,
            description=description or (inspect.getdoc(getter) if getter else None) or "",
        )
        if getter is None and default is _NO_DEFAULT:
            self._refuse(
                "a stored property needs a default, e.g. thing_property(int, default=0) "
                "(or declare it on a getter method)"
            )
        self.field = field
        self.default = default
        self.getter = getter
        self.setter_func: Setter | None = None
        self._readonly = readonly
        self.lock = lock
        self.persist = persist
        if persist and getter is not None:
            self._refuse(
                "persist=True keeps a stored value; a property computed by a getter "
                "reads its value from the instrument"
            )

    @property
    def readonly(self) -> bool:
        """True when clients cannot write it: declared so, or computed without a setter."""
        return self._readonly or (self.getter is not None and self.setter_func is None)

    @overload
    def __get__(self, instance: None, owner: type) -> PropertyAffordance: ...
    @overload
    def __get__(self, instance: object, owner: type) -> Any: ...
    def __get__(self, instance: object | None, owner: type) -> Any:
        if instance is None:
            return self
        if self.getter is not None:
            return self.getter(instance)
        try:
            return instance.__dict__[self.name]
        except KeyError:
            value = instance.__dict__[self.name] = copy.deepcopy(self.default)
            return value

    def __set__(self, instance: object, value: Any) -> None:
        if self.getter is not None:
            if self.setter_func is None:
                raise AttributeError(f"property {self.name!r} has no setter")
            self.setter_func(instance, value)
        else:
            instance.__dict__[self.name] = value
            if self.persist:
                self._save(instance, value)
        self._publish(instance, value)

    def _save(self, instance: object, value: Any) -> None:
        """Save the new value of a served Thing's persisted property; a failure is logged
        (the assignment itself has happened)."""
        save = getattr(instance, "_labthings_save", None)
        if save is None:
            return
        try:
            save(self.name, self.dump(value))
        except Exception:  # noqa: BLE001 - a full disk must not undo the assignment
            _logger.exception("property %r was set but its value could not be saved", self.name)

    def _publish(self, instance: object, value: Any) -> None:
        """Tell watchers of a served Thing about the new value (computed: read it back)."""
        publisher = getattr(instance, "_labthings_publisher", None)
        if publisher is None:
            return
        if self.getter is not None and not publisher.watching_property(self.name):
            return
        try:
            if self.getter is not None:
                value = self.getter(instance)  # what the hardware now says
            publisher.property_changed(self.name, self.dump(value))
        except Exception as error:  # noqa: BLE001 - the write has happened; only telling failed
            _logger.warning(
                "property %r changed, but its new value cannot be sent: %s", self.name, error
            )

    def setter(self, func: Setter) -> PropertyAffordance:
        """Make a computed property writable through `func(self, value)`."""
        if self.getter is None:
            raise ConfigurationError("only a property declared on a getter takes a setter")
        self.setter_func = func
        return self

    def validate(self, value: Any) -> Any:
        """The deserialised value to write, or `ValidationError` saying what is wrong."""
        try:
            return self.field.deserialize(value)
        except marshmallow.ValidationError as error:
            raise ValidationError(
                f"invalid value for property {self.name!r}",
                flatten_errors({self.name: error.messages}),
            ) from None

    def dump(self, value: Any) -> Any:
        """`value` as JSON, serialised by the property's field.

        A lone surrogate that the Thing's own code put in a string (bytes from an
        instrument decoded with `surrogateescape`, say) reads as U+FFFD, as a text
        decoder shows a byte it cannot decode, so that reads, events and saves of the
        property never fail for it. Other values that are not JSON (NaN) raise.
        """
        try:
            return dump_value(self.field, self.name, value)
        except ValueError:
            return dump_value(self.field, self.name, with_clean_text(value))


@overload
def thing_property(declaration: Getter) -> PropertyAffordance: ...
@overload
def thing_property(
    declaration: fields.Field | Any,
    *,
    default: Any = ...,
    readonly: bool = False,
    lock: bool = True,
    persist: bool = False,
    title: str | None = None,
    description: str | None = None,
) -> PropertyAffordance: ...
@overload
def thing_property(
    *,
    readonly: bool = False,
    lock: bool = True,
    title: str | None = None,
    description: str | None = None,
) -> Callable[[Getter], PropertyAffordance]: ...
def thing_property(
    declaration: Any = None, **options: Any
) -> PropertyAffordance | Callable[[Getter], PropertyAffordance]:
    """Declare a property: from a field or type with a default, or on a getter method.

    Options: `default` (stored form), `readonly` (clients may not write it), `lock`
    (HTTP writes take the instrument lock, default True), `persist` (a stored value is
    saved on every write and restored when the server starts again), `title`,
    `description`.
    """
    if declaration is None:
        return lambda getter: _from_getter(getter, options)
    if inspect.isfunction(declaration):
        return _from_getter(declaration, options)
    if isinstance(declaration, fields.Field):
        return PropertyAffordance(declaration, **options)
    try:
        field = field_for_hint(declaration, allow_none=options.get("default") is None)
    except ConfigurationError as error:
        # Raised by the owning Thing class, which can name the property (see `check`).
        affordance = PropertyAffordance(fields.Raw(), **options)
        affordance._refuse(str(error))
        return affordance
    return PropertyAffordance(field, **options)


def _from_getter(getter: Getter, options: dict[str, Any]) -> PropertyAffordance:
    where = f"property {qualified_name(getter)!r}"
    if "default" in options:
        raise ConfigurationError(f"{where}: a computed property takes no default")
    try:
        hints = typing.get_type_hints(getter, include_extras=True)
        field = field_for_hint(hints.get("return", Any))
    except NameError as error:
        raise ConfigurationError(f"{where}: {error}") from None
    except ConfigurationError as error:
        raise ConfigurationError(f"{where}, return value: {error}") from None
    return PropertyAffordance(field, getter=getter, **options)
