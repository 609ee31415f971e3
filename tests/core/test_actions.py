"""`@action`: argument schemas from signatures, input and output as JSON, options."""

from __future__ import annotations

import enum
import json
import math
from types import MethodType
from typing import Annotated, Any, Literal

import numpy
import pytest
from marshmallow.validate import Range

from labthings import ConfigurationError, Thing, ValidationError, action, fields
from labthings.core.things.actions import ActionAffordance


class Speed(enum.Enum):
    SLOW = "slow"
    FAST = "fast"


Percent = Annotated[float, fields.Float(validate=Range(0, 100))]


class Stage(Thing):
    """A motorised stage."""

    def __init__(self) -> None:
        self.moves: list[tuple[int, int]] = []

    @action
    def move(
        self,
        x: int,
        y: int = 0,
        waypoints: list[int] | None = None,
        speed: Speed = Speed.SLOW,
        mode: Literal["absolute", "relative"] = "absolute",
    ) -> list[int]:
        """Move to (x, y)."""
        self.moves.append((x, y))
        return [x, y]

    @action(wait=5, lock=False, safe=True, idempotent=True, title="Read status")
    def status(self) -> dict[str, Any]:
        return {"ok": True}

    @action(description="Turn the light on or off.")
    def light(self, on: bool, level: Percent = 50.0, note: str = None) -> None:  # type: ignore[assignment]
        """Ignored: the description option wins."""

    @action
    def untyped(self, value):  # type: ignore[no-untyped-def]  # deliberately unannotated
        return value

    @action
    def scan(self, *, start: float, stop: float = 1.0) -> float:
        return stop - start


MOVE = Stage.actions()["move"]
LIGHT = Stage.actions()["light"]


def errors_of(affordance: ActionAffordance, body: Any) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        affordance.validate_input(body)
    return caught.value.errors


# -- the input schema ------------------------------------------------------------------


def test_arguments_without_defaults_are_required() -> None:
    assert errors_of(MOVE, {}) == {"x": ["Missing data for required field."]}
    assert set(errors_of(LIGHT, {})) == {"on"}


def test_defaults_are_applied_to_omitted_arguments() -> None:
    assert MOVE.validate_input({"x": 3}) == {
        "x": 3,
        "y": 0,
        "waypoints": None,
        "speed": Speed.SLOW,
        "mode": "absolute",
    }


def test_given_arguments_are_loaded() -> None:
    loaded = MOVE.validate_input(
        {"x": 1, "y": -2, "waypoints": [4, 5], "speed": "fast", "mode": "relative"}
    )
    assert loaded == {
        "x": 1,
        "y": -2,
        "waypoints": [4, 5],
        "speed": Speed.FAST,
        "mode": "relative",
    }


def test_a_none_default_accepts_null_and_other_arguments_do_not() -> None:
    assert MOVE.validate_input({"x": 1, "waypoints": None})["waypoints"] is None
    assert LIGHT.validate_input({"on": True, "note": None})["note"] is None  # str = None
    assert set(errors_of(MOVE, {"x": None})) == {"x"}
    assert set(errors_of(MOVE, {"x": 1, "y": None})) == {"y"}


def test_an_empty_object_means_no_arguments() -> None:
    assert Stage.actions()["status"].validate_input({}) == {}
    assert errors_of(MOVE, {}) == {"x": ["Missing data for required field."]}


def test_unknown_arguments_are_rejected_by_name() -> None:
    assert errors_of(MOVE, {"x": 1, "z": 2, "speeed": "fast"}) == {
        "z": ["Unknown field."],
        "speeed": ["Unknown field."],
    }


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ([1, 2], "an array"),
        ("x=1", "a string"),
        (3, "a number"),
        (True, "a boolean"),
    ],
)
def test_a_body_that_is_not_an_object_is_rejected(body: Any, kind: str) -> None:
    with pytest.raises(ValidationError, match="JSON object") as caught:
        MOVE.validate_input(body)
    assert caught.value.errors == {"_schema": [f"expected a JSON object, got {kind}"]}


def test_a_null_body_means_no_arguments_as_an_empty_object_does() -> None:
    # W3C WoT clients send `null` as the body of an action without input.
    assert Stage.actions()["status"].validate_input(None) == {}
    assert errors_of(MOVE, None) == errors_of(MOVE, {})
    assert "x" in errors_of(MOVE, None)


def test_every_bad_argument_is_named_with_its_own_message() -> None:
    errors = errors_of(
        MOVE, {"x": "1", "y": 1.5, "speed": "warp", "mode": "sideways", "waypoints": [1, "b"]}
    )
    assert set(errors) == {"x", "y", "speed", "mode", "waypoints.1"}
    assert all(errors[name] and all(isinstance(m, str) for m in errors[name]) for name in errors)
    assert "integer" in errors["x"][0].lower()


def test_the_error_names_the_action() -> None:
    with pytest.raises(ValidationError, match="'move'"):
        MOVE.validate_input({"x": True})


def test_an_annotated_field_validates_its_argument() -> None:
    assert LIGHT.validate_input({"on": False, "level": 100})["level"] == 100
    assert set(errors_of(LIGHT, {"on": True, "level": 101})) == {"level"}
    assert set(errors_of(LIGHT, {"on": True, "level": "50"})) == {"level"}


def test_keyword_only_arguments_are_arguments_too() -> None:
    scan = Stage.actions()["scan"]
    assert scan.validate_input({"start": 0.5}) == {"start": 0.5, "stop": 1.0}
    assert set(errors_of(scan, {})) == {"start"}


def test_unannotated_arguments_take_any_json_value() -> None:
    untyped = Stage.actions()["untyped"]
    assert untyped.validate_input({"value": {"a": [1]}}) == {"value": {"a": [1]}}
    assert untyped.output_field is None


# -- input and output as JSON ----------------------------------------------------------


def test_dump_input_gives_json_with_defaults_applied() -> None:
    arguments = MOVE.validate_input({"x": 3, "speed": "fast"})
    assert MOVE.dump_input(arguments) == {
        "x": 3,
        "y": 0,
        "waypoints": None,
        "speed": "fast",
        "mode": "absolute",
    }


@pytest.mark.parametrize("value", [0, False, "", [], {}, 0.0, None])
def test_falsy_outputs_are_kept_as_themselves(value: Any) -> None:
    dumped = Stage.actions()["untyped"].dump_output(value)
    assert dumped == value and type(dumped) is type(value)


def test_typed_outputs_keep_falsy_values() -> None:
    class Falsy(Thing):
        @action
        def zero(self) -> int:
            return 0

        @action
        def no(self) -> bool:
            return False

        @action
        def empty(self) -> str:
            return ""

        @action
        def nothing(self) -> list[int]:
            return []

    outputs = {
        name: act.dump_output(getattr(Falsy(), name)()) for name, act in Falsy.actions().items()
    }
    assert outputs == {"zero": 0, "no": False, "empty": "", "nothing": []}
    assert outputs["no"] is False


def test_outputs_are_serialised_by_the_return_annotation() -> None:
    assert MOVE.dump_output((1, 2)) == [1, 2]
    assert Stage.actions()["status"].dump_output({"ok": True}) == {"ok": True}


@pytest.mark.parametrize("value", [math.nan, math.inf, [1.0, -math.inf], {"a": math.nan}])
def test_non_finite_numbers_are_refused_with_a_clear_error(value: Any) -> None:
    with pytest.raises(ValueError, match="NaN and infinity"):
        Stage.actions()["untyped"].dump_output(value)


def test_a_typed_float_output_of_nan_is_refused() -> None:
    with pytest.raises(ValueError, match="NaN"):
        Stage.actions()["scan"].dump_output(math.nan)


@pytest.mark.parametrize("value", [object(), {1, 2}, b"bytes", {"a": Speed.FAST}])
def test_non_json_outputs_are_refused_with_a_clear_error(value: Any) -> None:
    with pytest.raises(TypeError, match="not a JSON value"):
        Stage.actions()["untyped"].dump_output(value)


# -- the decorator ---------------------------------------------------------------------


def test_bare_decorator_uses_the_defaults() -> None:
    assert isinstance(MOVE, ActionAffordance)
    assert (MOVE.name, MOVE.display_title, MOVE.wait, MOVE.lock) == ("move", "move", 1.0, True)
    assert (MOVE.safe, MOVE.idempotent) == (False, False)
    assert MOVE.description == "Move to (x, y)."


def test_decorator_options_are_recorded() -> None:
    status = Stage.actions()["status"]
    assert (status.wait, status.lock, status.safe, status.idempotent) == (5.0, False, True, True)
    assert status.title == "Read status"
    assert status.description == ""
    assert LIGHT.description == "Turn the light on or off."


def test_the_method_is_still_callable_from_python() -> None:
    stage = Stage()
    assert isinstance(stage.move, MethodType)
    assert stage.move(4, y=5) == [4, 5]
    assert stage.move(x=1) == [1, 0]
    assert stage.moves == [(4, 5), (1, 0)]
    assert stage.scan(start=0.25) == 0.75
    assert Stage.move is MOVE  # on the class it is the affordance


def test_the_return_annotation_gives_the_output_field() -> None:
    assert isinstance(MOVE.output_field, fields.List)
    assert LIGHT.output_field is None  # -> None


def test_a_negative_wait_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="wait"):

        @action(wait=-1)
        def act(self: Any) -> None:
            pass


def test_star_arguments_cannot_be_an_action() -> None:
    with pytest.raises(ConfigurationError, match=r"\*args"):

        @action
        def act(self: Any, *values: int) -> None:
            pass

    with pytest.raises(ConfigurationError, match=r"\*\*kwargs"):

        @action
        def act2(self: Any, **options: int) -> None:
            pass


class Camera:
    pass


def test_an_unsupported_argument_type_names_the_action_and_argument() -> None:
    with pytest.raises(ConfigurationError, match="'snap'.*'camera'"):

        @action
        def snap(self: Any, camera: Camera) -> None:
            pass


def test_a_bytes_return_names_the_return_value_and_suggests_a_blob() -> None:
    with pytest.raises(ConfigurationError) as caught:

        @action
        def take(self: Any) -> bytes:
            return b""

    message = str(caught.value)
    assert message.startswith("action 'take', return value: ")
    assert "annotate the return -> Blob" in message


def test_a_bytes_argument_is_not_told_to_be_a_blob() -> None:
    with pytest.raises(ConfigurationError, match="argument 'data'") as caught:

        @action
        def upload(self: Any, data: bytes) -> None:
            pass

    assert "Blob" not in str(caught.value)


def test_an_unresolvable_annotation_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="'act'"):

        @action
        def act(self: Any, value: NoSuchType) -> None:  # type: ignore[name-defined]  # noqa: F821
            pass


class Analysis(Thing):
    """Returns numpy values, converted by the return annotations."""

    @action
    def spectrum(self) -> list[float]:
        return numpy.linspace(0.0, 1.0, 3)

    @action
    def peak(self) -> float:
        return numpy.float32(1.5)

    @action
    def count(self) -> int:
        return numpy.int64(7)

    @action
    def saturated(self) -> bool:
        return numpy.bool_(True)

    @action
    def channels(self) -> list[int]:
        return {3, 1, 2}

    @action
    def unannotated(self):  # no return annotation, on purpose
        return numpy.int64(7)


@pytest.mark.parametrize(
    ("name", "output"),
    [
        ("spectrum", [0.0, 0.5, 1.0]),
        ("peak", 1.5),
        ("count", 7),
        ("saturated", True),
        ("channels", [1, 2, 3]),
    ],
)
def test_return_annotations_convert_numpy_values_and_sets(name: str, output: Any) -> None:
    affordance = Analysis.actions()[name]
    dumped = affordance.dump_output(affordance.func(Analysis()))
    assert json.dumps(dumped) == json.dumps(output)  # plain JSON types, not numpy's


def test_without_an_annotation_a_numpy_value_is_refused() -> None:
    affordance = Analysis.actions()["unannotated"]
    with pytest.raises(TypeError, match="not a JSON value"):
        affordance.dump_output(affordance.func(Analysis()))
