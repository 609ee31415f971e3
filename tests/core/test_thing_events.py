"""Things publish property changes and declared events once a LabThing serves them."""

from __future__ import annotations

import pytest
from core_helpers import invoke

from labthings import ConfigurationError, Thing, action, thing_event, thing_property
from labthings.core.live.hub import Event, EventHub
from labthings.core.settings import Settings
from labthings.core.tasks.runner import TaskRunner
from labthings.core.things.registry import ThingRegistry


class Lamp(Thing):
    brightness = thing_property(int, default=5)
    switched = thing_event(bool, description="On or off.")

    def __init__(self) -> None:
        self._colour = "red"

    @thing_property
    def colour(self) -> str:
        return self._colour

    @colour.setter  # type: ignore[no-redef]
    def colour(self, value: str) -> None:
        self._colour = value

    @action
    def flash(self) -> None:
        self.emit("switched", True)


@pytest.fixture
def hub() -> EventHub:
    return EventHub()


@pytest.fixture
def lamp(hub: EventHub) -> Lamp:
    lamp = Lamp()
    ThingRegistry("lab", hub).add("lamp", lamp)
    return lamp


def drain(hub: EventHub, events: list[Event]) -> None:
    subscription = hub.subscribe(lambda event: True, last_event_id=0)
    while (event := subscription.get(0.05)) is not None:
        assert isinstance(event, Event)
        events.append(event)


def test_stored_and_computed_properties_publish_their_new_value(hub: EventHub, lamp: Lamp) -> None:
    watcher = hub.subscribe(lambda event: True)
    lamp.brightness = 9
    lamp.colour = "blue"  # computed: read back through the getter
    lamp.notify_property_changed("colour", "green")
    got = [watcher.get(1) for _ in range(3)]
    assert [(e.topic, e.data) for e in got if isinstance(e, Event)] == [
        ("property/lamp/brightness", 9),
        ("property/lamp/colour", "blue"),
        ("property/lamp/colour", "green"),
    ]


def test_emit_checks_the_declaration_and_the_data(hub: EventHub, lamp: Lamp) -> None:
    lamp.emit("switched", False)
    events: list[Event] = []
    drain(hub, events)
    assert [(e.topic, e.kind, e.data) for e in events] == [
        ("event/lamp/switched", "switched", False)
    ]
    with pytest.raises(ConfigurationError, match="thing_event"):
        lamp.emit("exploded")
    with pytest.raises(TypeError):
        lamp.emit("switched", object())
    assert Lamp.events()["switched"].description == "On or off."


def test_an_unserved_thing_emits_and_sets_quietly() -> None:
    lamp = Lamp()
    lamp.emit("switched", True)
    lamp.brightness = 1
    lamp.notify_property_changed("colour")
    assert lamp.brightness == 1


def test_task_changes_reach_the_hub_in_order(hub: EventHub, lamp: Lamp) -> None:
    registry = ThingRegistry("lab2", hub)
    entry = registry.add("lamp", Lamp())
    runner = TaskRunner(Settings(), hub)
    watcher = hub.subscribe(lambda event: event.topic.startswith("task/"))
    task = invoke(runner, entry, "flash", {})
    assert task.wait(5)
    kinds = []
    while (event := watcher.get(0.2)) is not None:
        assert isinstance(event, Event)
        kinds.append(event.kind)
    assert kinds[0] == "update" and kinds[-1] == "record"
    assert all(kind == "update" for kind in kinds[:-1])
