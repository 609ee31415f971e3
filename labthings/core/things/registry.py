"""The Things a server serves, by name, with each one's instrument lock."""

from __future__ import annotations

import functools
import logging
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from labthings.core.errors import (
    ConfigurationError,
    InstrumentBusyError,
    MethodNotAllowedError,
    NotFoundError,
    ValidationError,
)
from labthings.core.live.hub import EventHub, ThingPublisher
from labthings.core.things.affordance import Affordance
from labthings.core.things.locks import InstrumentLock
from labthings.core.things.persistence import PropertyStore
from labthings.core.things.properties import PropertyAffordance
from labthings.core.things.thing import Thing

__all__ = ["NOT_READ", "RESERVED_NAMES", "ThingEntry", "ThingRegistry"]

_A = TypeVar("_A", bound=Affordance)
_logger = logging.getLogger(__name__)

NOT_READ: Any = object()
"""What `write_property` returns when the value was written but reading it back failed."""

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
RESERVED_NAMES = frozenset({"actions", "docs", "static", "ui", "events", "things"})
_ID_NAMESPACE = uuid.UUID("5a1c9d2e-7f0b-4e6a-9c3d-1b2a3c4d5e6f")


@dataclass
class ThingEntry:
    """One served Thing: its path name, the object, its lock and its stable TD `id`."""

    name: str
    thing: Thing
    thing_id: str
    lock: InstrumentLock = field(default_factory=InstrumentLock)

    def affordance(self, name: str, kind: type[_A]) -> _A:
        """The `kind` (action, property or event) called `name`, or NotFoundError."""
        found = self.thing.affordance(name, kind)
        if found is None:
            raise NotFoundError(f"thing {self.name!r} has no {kind.kind} {name!r}")
        return found

    def check_writable(self, affordance: PropertyAffordance) -> None:
        """MethodNotAllowedError if clients may not write `affordance`."""
        if affordance.readonly:
            raise MethodNotAllowedError(
                f"property {affordance.name!r} of thing {self.name!r} is read-only",
                allowed=["GET", "HEAD", "OPTIONS"],
            )

    def read_property(self, affordance: PropertyAffordance) -> Any:
        """The property's current value as JSON (reads never wait for the lock)."""
        return affordance.dump(getattr(self.thing, affordance.name))

    def write_property(
        self, affordance: PropertyAffordance, value: Any, lock_timeout: float
    ) -> Any:
        """Validate and write a JSON value; returns the value read back as JSON.

        Raises MethodNotAllowedError for a read-only property, ValidationError for a bad
        value or one the Thing refused, and InstrumentBusyError when the lock is not free
        within `lock_timeout`. If the write worked but reading the value back fails, the
        failure is logged and `NOT_READ` returned: the write must not look refused.
        """
        name = affordance.name
        self.check_writable(affordance)
        checked = affordance.validate(value)
        if affordance.lock:
            owner = f"a write of property {name!r}"
            if not self.lock.acquire(owner, timeout=lock_timeout):
                holder = self.lock.holder or "another request"
                raise InstrumentBusyError(
                    f"thing {self.name!r} is busy: {holder} holds its instrument lock; "
                    "try again when it has finished"
                )
            try:
                self._set(affordance, checked)
            finally:
                self.lock.release()
        else:
            self._set(affordance, checked)
        try:
            return self.read_property(affordance)
        except Exception as error:  # noqa: BLE001 - the write is done, whatever reading does
            _logger.warning(
                "thing %r: property %r was written, but reading it back failed: %s",
                self.name,
                name,
                error,
            )
            return NOT_READ

    def _set(self, affordance: PropertyAffordance, value: Any) -> None:
        """Assign; a setter's ValueError means the value was refused, so it is a 422."""
        try:
            setattr(self.thing, affordance.name, value)
        except ValueError as error:
            raise ValidationError(
                f"thing {self.name!r} refused the value of {affordance.name!r}",
                {affordance.name: [str(error)]},
            ) from None


class ThingRegistry:
    """Things by name. Frozen once the server is built: documents are made from it once."""

    def __init__(
        self, title: str, hub: EventHub | None = None, store: PropertyStore | None = None
    ) -> None:
        """`store` keeps the values of `persist=True` properties (None: not kept)."""
        self._title = title
        self._hub = hub
        self._store = store
        self._entries: dict[str, ThingEntry] = {}
        self._frozen = False
        self._lock = threading.Lock()

    def add(self, name: str, thing: Thing, thing_id: str | None = None) -> ThingEntry:
        """Serve `thing` at `/<name>/`; `thing_id` defaults to an id stable across restarts."""
        if not isinstance(thing, Thing):
            raise ConfigurationError(f"{thing!r} is not a labthings Thing instance")
        if not _NAME.fullmatch(name) or name in RESERVED_NAMES:
            raise ConfigurationError(
                f"{name!r} cannot name a thing: use letters, digits, '_' or '-', starting "
                f"with a letter, and none of {sorted(RESERVED_NAMES)}"
            )
        with self._lock:
            if self._frozen:
                raise ConfigurationError("things cannot be added after the app has been built")
            if name in self._entries:
                raise ConfigurationError(f"a thing named {name!r} is already registered")
            if thing_id is None:
                thing_id = uuid.uuid5(_ID_NAMESPACE, f"{self._title}/{name}").urn
            entry = ThingEntry(name=name, thing=thing, thing_id=thing_id)
            self._entries[name] = entry
            if self._hub is not None:
                thing._labthings_publisher = ThingPublisher(self._hub, name)
            if self._store is not None:
                thing._labthings_save = functools.partial(self._store.save, name)
            return entry

    def use_store(self, store: PropertyStore) -> None:
        """Save `persist=True` values in `store`, for the Things served and those to come."""
        with self._lock:
            self._store = store
            for entry in self._entries.values():
                entry.thing._labthings_save = functools.partial(store.save, entry.name)

    def restore(self) -> list[str]:
        """Give every Thing its saved `persist=True` values (call before `__enter__`).

        A saved value that no longer fits its property's declaration is skipped (the
        default stays); returns one message for each.
        """
        problems: list[str] = []
        if self._store is None:
            return problems
        for entry in self:
            saved = self._store.load(entry.name)
            for name, affordance in type(entry.thing).properties().items():
                if not affordance.persist or name not in saved:
                    continue
                try:
                    entry.thing.__dict__[name] = affordance.validate(saved[name])
                except ValidationError as error:
                    problems.append(
                        f"thing {entry.name!r}: the saved value of {name!r} no longer fits "
                        f"its declaration ({'; '.join(sum(error.errors.values(), []))}); "
                        "using the default"
                    )
        return problems

    def freeze(self) -> None:
        """Refuse further additions (called when the app is built)."""
        with self._lock:
            self._frozen = True

    def get(self, name: str) -> ThingEntry:
        """The entry named `name`, or NotFoundError."""
        try:
            return self._entries[name]
        except KeyError:
            raise NotFoundError(f"no thing named {name!r}") from None

    def __iter__(self) -> Iterator[ThingEntry]:
        return iter(list(self._entries.values()))

    def __len__(self) -> int:
        return len(self._entries)
