"""The registry of served Things, and reading and writing properties through an entry."""

from __future__ import annotations

import pytest
from core_helpers import read, write

from labthings import (
    ConfigurationError,
    NotFoundError,
    Thing,
    ValidationError,
    action,
    thing_property,
)
from labthings.core.errors import MethodNotAllowedError
from labthings.core.things.actions import ActionAffordance
from labthings.core.things.properties import PropertyAffordance
from labthings.core.things.registry import RESERVED_NAMES, ThingRegistry


class Lamp(Thing):
    brightness = thing_property(float, default=0.5)
    colour = thing_property(str, default="white", readonly=True)

    def __init__(self) -> None:
        self.writes: list[int] = []

    @thing_property
    def hours(self) -> int:
        return 12

    @thing_property
    def channel(self) -> int:
        return self.writes[-1] if self.writes else 0

    @channel.setter
    def channel(self, value: int) -> None:
        self.writes.append(value)

    @action
    def flash(self) -> None:
        pass


def test_things_are_registered_and_found_by_name() -> None:
    registry = ThingRegistry("Lab")
    lamp, other = Lamp(), Lamp()
    first = registry.add("lamp", lamp)
    second = registry.add("lamp-2", other)
    assert registry.get("lamp") is first and first.thing is lamp
    assert [entry.name for entry in registry] == ["lamp", "lamp-2"]
    assert len(registry) == 2
    assert first.lock is not second.lock  # one instrument lock per Thing


@pytest.mark.parametrize(
    "name", ["", "1lamp", "lamp/1", "lamp 1", "lamp\n", "x" * 65, "läm", *sorted(RESERVED_NAMES)]
)
def test_names_that_cannot_be_a_path_are_refused(name: str) -> None:
    with pytest.raises(ConfigurationError, match="cannot name a thing"):
        ThingRegistry("Lab").add(name, Lamp())


def test_a_name_is_registered_once() -> None:
    registry = ThingRegistry("Lab")
    registry.add("lamp", Lamp())
    with pytest.raises(ConfigurationError, match="already registered"):
        registry.add("lamp", Lamp())


def test_only_thing_instances_are_accepted() -> None:
    with pytest.raises(ConfigurationError, match="not a labthings Thing"):
        ThingRegistry("Lab").add("lamp", Lamp)  # type: ignore[arg-type]  # the class


def test_a_frozen_registry_refuses_new_things() -> None:
    registry = ThingRegistry("Lab")
    registry.add("lamp", Lamp())
    registry.freeze()
    with pytest.raises(ConfigurationError, match="after the app has been built"):
        registry.add("lamp2", Lamp())
    assert registry.get("lamp").name == "lamp"


def test_the_thing_id_is_stable_across_restarts_and_settable() -> None:
    first = ThingRegistry("Lab").add("lamp", Lamp()).thing_id
    again = ThingRegistry("Lab").add("lamp", Lamp()).thing_id
    elsewhere = ThingRegistry("Other lab").add("lamp", Lamp()).thing_id
    assert first == again != elsewhere
    assert first.startswith("urn:uuid:")
    assert ThingRegistry("Lab").add("lamp", Lamp(), thing_id="urn:x").thing_id == "urn:x"


def test_unknown_names_are_not_found() -> None:
    registry = ThingRegistry("Lab")
    entry = registry.add("lamp", Lamp())
    with pytest.raises(NotFoundError, match="'bulb'"):
        registry.get("bulb")
    with pytest.raises(NotFoundError, match="no action 'dim'"):
        entry.affordance("dim", ActionAffordance)
    with pytest.raises(NotFoundError, match="no property 'dim'"):
        entry.affordance("dim", PropertyAffordance)
    with pytest.raises(NotFoundError):
        entry.affordance("brightness", ActionAffordance)  # a property is not an action


def test_read_property_gives_json() -> None:
    entry = ThingRegistry("Lab").add("lamp", Lamp())
    assert read(entry, "brightness") == 0.5
    assert read(entry, "hours") == 12


def test_write_property_validates_writes_and_reads_back() -> None:
    lamp = Lamp()
    entry = ThingRegistry("Lab").add("lamp", lamp)
    assert write(entry, "brightness", 1, lock_timeout=1) == 1.0
    assert lamp.brightness == 1.0
    assert write(entry, "channel", 3, lock_timeout=1) == 3
    assert lamp.writes == [3]
    assert entry.lock.holder is None


def test_a_bad_value_is_refused_and_nothing_is_written() -> None:
    lamp = Lamp()
    entry = ThingRegistry("Lab").add("lamp", lamp)
    with pytest.raises(ValidationError) as caught:
        write(entry, "brightness", "bright", lock_timeout=1)
    assert list(caught.value.errors) == ["brightness"]
    with pytest.raises(ValidationError):
        write(entry, "channel", 2.5, lock_timeout=1)
    assert lamp.brightness == 0.5 and lamp.writes == []
    assert entry.lock.holder is None


@pytest.mark.parametrize("name", ["colour", "hours"])
def test_read_only_properties_cannot_be_written(name: str) -> None:
    entry = ThingRegistry("Lab").add("lamp", Lamp())
    with pytest.raises(MethodNotAllowedError, match="read-only") as caught:
        write(entry, name, 1, lock_timeout=1)
    assert caught.value.allowed == ["GET", "HEAD", "OPTIONS"]
