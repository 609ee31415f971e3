"""`thing_property` and the `Thing` base class: declaring, reading and writing values."""

from __future__ import annotations

import enum
import math
from pathlib import Path
from typing import Annotated

import pytest
from core_helpers import write
from marshmallow.validate import Range

from labthings import ConfigurationError, Thing, ValidationError, action, fields, thing_property
from labthings.core.describe.types import StrictFloat, StrictInteger
from labthings.core.things.persistence import PropertyStore
from labthings.core.things.properties import PropertyAffordance
from labthings.core.things.registry import ThingRegistry


class Filter(enum.Enum):
    NONE = "none"
    RED = "red"


Small = Annotated[int, fields.Integer(validate=Range(0, 10))]


class Stage(Thing):
    """A motorised stage.

    It moves in x and y.
    """

    speed = thing_property(fields.Float(validate=Range(0, 10)), default=1.0)
    name = thing_property(str, default="stage", description="What the lab calls it")
    target = thing_property(int | None, default=None)
    waypoints = thing_property(list[int], default=[])
    limits = thing_property(dict[str, float], default={"x": 10.0})
    colour = thing_property(Filter, default=Filter.NONE)
    serial = thing_property(str, default="SN-1", readonly=True)
    gain = thing_property(Small, default=1, lock=False)

    def __init__(self) -> None:
        self._position = [0, 0]
        self._label = "stage"

    @thing_property
    def position(self) -> list[int]:
        """Where the stage is, in steps."""
        return list(self._position)

    @thing_property
    def label(self) -> str:
        return self._label

    @label.setter
    def label(self, value: str) -> None:
        self._label = value.strip()

    @thing_property(readonly=True, title="Temperature")
    def temperature(self) -> float:
        return 21.5

    @thing_property(lock=False)
    def brightness(self) -> float:
        return 0.5

    @brightness.setter
    def brightness(self, value: float) -> None:
        pass

    @thing_property
    def anything(self):  # type: ignore[no-untyped-def]  # deliberately unannotated
        return {"a": 1}


PROPERTIES = Stage.properties()


# -- stored properties -----------------------------------------------------------------


def test_stored_properties_start_at_their_defaults() -> None:
    stage = Stage()
    assert stage.speed == 1.0
    assert stage.name == "stage"
    assert stage.target is None
    assert stage.waypoints == []
    assert stage.colour is Filter.NONE


def test_stored_properties_are_plain_attributes_to_python() -> None:
    stage = Stage()
    stage.speed = 2.5
    stage.serial = "SN-2"  # read-only is for clients, not for the Thing's own code
    assert (stage.speed, stage.serial) == (2.5, "SN-2")
    assert Stage().speed == 1.0


def test_a_mutable_default_is_not_shared_between_instances() -> None:
    first, second = Stage(), Stage()
    first.waypoints.append(3)
    first.limits["y"] = 5.0
    assert second.waypoints == []
    assert second.limits == {"x": 10.0}
    assert PROPERTIES["waypoints"].default == []
    assert Stage().waypoints == []


def test_the_field_comes_from_the_type_or_is_the_one_given() -> None:
    assert isinstance(PROPERTIES["speed"].field, fields.Float)
    assert isinstance(PROPERTIES["target"].field, StrictInteger)
    assert PROPERTIES["target"].field.allow_none
    assert not PROPERTIES["gain"].field.allow_none


def test_a_none_default_makes_the_property_nullable() -> None:
    prop = thing_property(float, default=None)
    assert isinstance(prop.field, StrictFloat)
    assert prop.validate(None) is None


@pytest.mark.parametrize("declaration", [int, fields.Integer()])
def test_a_stored_property_needs_a_default(declaration: object) -> None:
    # Refused when the class is made, so the message names the Thing and the property.
    with pytest.raises(ConfigurationError, match=r"^Lamp: property 'level': .*default=0"):

        class Lamp(Thing):
            level = thing_property(declaration)


def test_a_stored_property_of_a_type_json_cannot_hold_names_the_thing() -> None:
    with pytest.raises(ConfigurationError, match=r"^Camera: property 'frame': .*bytes"):

        class Camera(Thing):
            frame = thing_property(bytes, default=b"")


def test_options_are_recorded() -> None:
    assert PROPERTIES["name"].description == "What the lab calls it"
    assert PROPERTIES["serial"].readonly
    assert not PROPERTIES["speed"].readonly
    assert PROPERTIES["speed"].lock
    assert not PROPERTIES["gain"].lock
    assert PROPERTIES["speed"].name == "speed"


# -- computed properties ---------------------------------------------------------------


def test_a_computed_property_without_setter_is_read_only() -> None:
    stage = Stage()
    assert stage.position == [0, 0]
    assert PROPERTIES["position"].readonly
    with pytest.raises(AttributeError, match="no setter"):
        stage.position = [1, 1]


def test_a_setter_makes_a_computed_property_writable() -> None:
    stage = Stage()
    assert not PROPERTIES["label"].readonly
    stage.label = "  left  "
    assert stage.label == "left"


def test_decorator_options_on_a_computed_property() -> None:
    assert PROPERTIES["temperature"].readonly
    assert PROPERTIES["temperature"].title == "Temperature"
    assert not PROPERTIES["brightness"].lock
    assert not PROPERTIES["brightness"].readonly


def test_the_getter_docstring_is_the_description() -> None:
    assert PROPERTIES["position"].description == "Where the stage is, in steps."
    assert PROPERTIES["label"].description == ""


def test_the_return_annotation_gives_the_field() -> None:
    assert isinstance(PROPERTIES["position"].field, fields.List)
    assert isinstance(PROPERTIES["anything"].field, fields.Raw)


def test_a_computed_property_takes_no_default() -> None:
    with pytest.raises(ConfigurationError, match="no default"):

        @thing_property(default=1)  # type: ignore[call-overload]
        def value(self: Thing) -> int:
            return 1


def test_only_a_computed_property_takes_a_setter() -> None:
    stored = thing_property(int, default=0)
    with pytest.raises(ConfigurationError, match="getter"):
        stored.setter(lambda thing, value: None)


def test_the_class_attribute_is_the_affordance() -> None:
    assert isinstance(Stage.speed, PropertyAffordance)
    assert isinstance(Stage.position, PropertyAffordance)


# -- validating and dumping ------------------------------------------------------------


def test_validate_returns_the_value_to_write() -> None:
    assert PROPERTIES["speed"].validate(3) == 3.0
    assert PROPERTIES["colour"].validate("red") is Filter.RED
    assert PROPERTIES["waypoints"].validate([1, 2]) == [1, 2]
    assert PROPERTIES["target"].validate(None) is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("speed", 11),
        ("speed", -0.5),
        ("speed", "1"),
        ("speed", True),
        ("name", 5),
        ("name", None),
        ("target", 1.5),
        ("waypoints", [1, "x"]),
        ("colour", "blue"),
        ("gain", 11),
        ("gain", True),
        ("gain", 1.5),
        ("gain", "1"),
    ],
)
def test_bad_values_are_rejected_naming_the_property(name: str, value: object) -> None:
    with pytest.raises(ValidationError, match=repr(name)) as caught:
        PROPERTIES[name].validate(value)
    assert all(key.startswith(name) for key in caught.value.errors)
    assert caught.value.errors


def test_dump_gives_json() -> None:
    stage = Stage()
    assert PROPERTIES["colour"].dump(Filter.RED) == "red"
    assert PROPERTIES["position"].dump((1, 2)) == [1, 2]
    assert PROPERTIES["target"].dump(None) is None
    assert PROPERTIES["name"].dump("") == ""
    assert PROPERTIES["speed"].dump(0.0) == 0.0
    assert PROPERTIES["anything"].dump(stage.anything) == {"a": 1}


def test_dump_refuses_what_json_cannot_hold() -> None:
    with pytest.raises(ValueError, match="NaN"):
        PROPERTIES["speed"].dump(math.nan)
    with pytest.raises(TypeError, match="not a JSON value"):
        PROPERTIES["anything"].dump({1, 2})


def test_a_shared_annotated_alias_keeps_each_property_its_own_nullability() -> None:
    class Lamp(Thing):
        level = thing_property(Small | None, default=None)
        floor = thing_property(Small, default=0)

    assert Lamp.properties()["level"].validate(None) is None
    with pytest.raises(ValidationError):
        Lamp.properties()["floor"].validate(None)


# -- Thing classes ---------------------------------------------------------------------


class Base(Thing):
    """The base instrument."""

    version = "2.0.0"
    mode = thing_property(str, default="idle")
    gain = thing_property(int, default=1)

    @action
    def start(self) -> str:
        return "base"

    @action
    def stop(self) -> None:
        pass

    @thing_property
    def ready(self) -> bool:
        return True


class Child(Base):
    gain = thing_property(float, default=2.5)  # overridden with another type

    @action
    def start(self) -> str:  # overridden action
        return "child"

    def stop(self) -> None:  # type: ignore[override]  # a plain method hides the action
        pass

    @action
    def ready(self) -> bool:  # the property becomes an action
        return False

    @action
    def extra(self) -> None:
        pass


class Sibling(Base):
    """Another one."""

    title = "The sibling"
    description = "Set explicitly."


def test_a_subclass_inherits_affordances() -> None:
    assert set(Sibling.actions()) == {"start", "stop"}
    assert set(Sibling.properties()) == {"mode", "gain", "ready"}
    assert Sibling().start() == "base"


def test_a_subclass_can_override_replace_and_hide_affordances() -> None:
    assert set(Child.actions()) == {"start", "ready", "extra"}
    assert set(Child.properties()) == {"mode", "gain"}
    assert Child().start() == "child"
    assert Child.actions()["start"] is not Base.actions()["start"]
    assert Child().gain == 2.5
    assert isinstance(Child.properties()["gain"].field, StrictFloat)


def test_subclasses_do_not_change_their_base() -> None:
    assert set(Base.actions()) == {"start", "stop"}
    assert set(Base.properties()) == {"mode", "gain", "ready"}
    assert Base().gain == 1
    assert Thing.actions() == {} and Thing.properties() == {}


def test_the_affordance_maps_are_copies() -> None:
    Base.actions().clear()
    Base.properties().clear()
    assert Base.actions() and Base.properties()


def test_title_defaults_to_the_class_name() -> None:
    assert Base.thing_title() == "Base"
    assert Sibling.thing_title() == "The sibling"
    assert Stage.thing_title() == "Stage"


def test_description_defaults_to_the_cleaned_docstring() -> None:
    assert Stage.thing_description() == "A motorised stage.\n\nIt moves in x and y."
    assert Base.thing_description() == "The base instrument."
    assert Sibling.thing_description() == "Set explicitly."


def test_a_subclass_without_a_docstring_does_not_inherit_its_base_docstring() -> None:
    assert Child.thing_description() == ""

    class Plain(Thing):
        pass

    assert Plain.thing_description() == ""
    assert Plain.thing_title() == "Plain"
    assert Plain.version == "1.0.0"
    assert Child.version == "2.0.0"


def test_enter_and_exit_do_nothing_by_default() -> None:
    stage = Stage()
    with stage as entered:
        assert entered is stage


class Oven(Thing):
    setpoint = thing_property(float, default=20.0, persist=True)
    label = thing_property(str, default="oven", persist=True)
    scratch = thing_property(int, default=0)


def test_persisted_properties_are_saved_on_every_write_and_restored(tmp_path: Path) -> None:
    store = PropertyStore(tmp_path / "state.sqlite3")
    registry = ThingRegistry("Lab", store=store)
    oven = Oven()
    registry.add("oven", oven)
    oven.setpoint = 180.0  # from the Thing's own code
    write(registry.get("oven"), "label", "big oven", lock_timeout=1)  # as a PUT does
    oven.scratch = 5  # not persisted
    store.close()

    reopened = PropertyStore(tmp_path / "state.sqlite3")
    restored = ThingRegistry("Lab", store=reopened)
    fresh = Oven()
    restored.add("oven", fresh)
    assert restored.restore() == []
    assert (fresh.setpoint, fresh.label, fresh.scratch) == (180.0, "big oven", 0)
    reopened.close()


def test_a_saved_value_that_no_longer_fits_is_reported_and_the_default_used(
    tmp_path: Path,
) -> None:
    store = PropertyStore(tmp_path / "state.sqlite3")
    store.save("oven", "setpoint", "hot")  # saved when the property was a string
    registry = ThingRegistry("Lab", store=store)
    oven = Oven()
    registry.add("oven", oven)
    (problem,) = registry.restore()
    assert "'setpoint'" in problem and "using the default" in problem
    assert oven.setpoint == 20.0
    store.close()


def test_persist_is_for_stored_properties() -> None:
    with pytest.raises(ConfigurationError, match="persist"):

        class Probe(Thing):
            @thing_property(persist=True)
            def reading(self) -> float:
                return 1.0
