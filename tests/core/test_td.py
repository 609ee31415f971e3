"""The Thing Description builder: valid W3C TD 1.1 documents that describe our routes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urljoin

import jsonschema
import pytest
from marshmallow import fields
from marshmallow.validate import Range

from labthings import ConfigurationError, Thing, action, thing_event, thing_property
from labthings.core.describe.td import TD_CONTEXT, TD_CONTEXT_V1, ThingDescriptionBuilder
from labthings.core.things.registry import ThingEntry, ThingRegistry

ROOT = "http://127.0.0.1:7485/"
TD_SCHEMA = json.loads(
    (Path(__file__).parents[1] / "support" / "data" / "wot-td-1.1-schema.json").read_text(
        encoding="utf-8"
    )
)


class Stage(Thing):
    """A motorised stage."""

    version = "2.3.1"

    speed = thing_property(
        fields.Float(validate=Range(0, 10)), default=1.0, description="Top speed in mm/s"
    )
    target = thing_property(int | None, default=None)

    @thing_property
    def position(self) -> list[int]:
        """Where the stage is now, in steps."""
        return [0, 0]

    @thing_property
    def label(self) -> str:
        return "stage"

    @label.setter
    def label(self, value: str) -> None:
        pass

    @action
    def move(
        self,
        x: int,
        waypoints: list[int],
        y: int = 0,
        speed: float | None = None,
        mode: Literal["fast", "slow"] = "fast",
    ) -> list[int]:
        """Move to (x, y) through the waypoints."""
        return [x, y]

    @action
    def home(self):  # type: ignore[no-untyped-def]  # deliberately unannotated
        pass

    @action(safe=True, idempotent=True)
    def status(self) -> dict[str, Any]:
        """A snapshot of the stage's state."""
        return {}

    @action
    def goto(self, point: tuple[int, int]) -> None:
        """Go to a point."""

    limit_reached = thing_event(dict[str, int], description="An axis reached its limit.")
    heartbeat = thing_event()


class Bare(Thing):
    pass


@pytest.fixture
def registry() -> ThingRegistry:
    return ThingRegistry("Test lab")


@pytest.fixture
def stage_entry(registry: ThingRegistry) -> ThingEntry:
    return registry.add("stage", Stage())


@pytest.fixture
def td(stage_entry: ThingEntry) -> dict[str, Any]:
    return ThingDescriptionBuilder(stage_entry).document(ROOT)


def forms_by_op(forms: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The first form of each operation (a form serving several is listed under each)."""
    found: dict[str, dict[str, Any]] = {}
    for form in forms:
        for op in [form["op"]] if isinstance(form["op"], str) else form["op"]:
            found.setdefault(op, form)
    return found


@pytest.mark.parametrize("thing", [Stage(), Bare()], ids=["stage", "bare"])
@pytest.mark.parametrize("root", [ROOT, "https://lab.example.org:8443/microscope/"])
@pytest.mark.parametrize("secured", [False, True], ids=["nosec", "bearer"])
def test_every_td_is_valid_against_the_w3c_schema(
    registry: ThingRegistry, thing: Thing, root: str, secured: bool
) -> None:
    validator_class = jsonschema.validators.validator_for(TD_SCHEMA)
    validator_class.check_schema(TD_SCHEMA)
    builder = ThingDescriptionBuilder(registry.add("thing", thing), lambda: secured)
    document = builder.document(root)
    validator = validator_class(TD_SCHEMA, format_checker=validator_class.FORMAT_CHECKER)
    errors = [
        f"{list(error.absolute_path)}: {error.message}" for error in validator.iter_errors(document)
    ]
    assert errors == []


def test_top_level_terms(td: dict[str, Any], stage_entry: ThingEntry) -> None:
    # TD 1.0's context first (node-wot's schema wants it), then TD 1.1's, as 1.1 allows.
    assert td["@context"][:2] == [TD_CONTEXT_V1, TD_CONTEXT]
    assert td["id"] == stage_entry.thing_id
    assert td["title"] == "Stage"
    assert td["description"] == "A motorised stage."
    assert td["version"] == {"instance": "2.3.1"}
    assert td["base"] == ROOT + "stage/"
    scheme = td["securityDefinitions"][td["security"][0]]
    assert scheme == {"scheme": "nosec"}


def test_security_follows_whether_tokens_are_needed_now(stage_entry: ThingEntry) -> None:
    needed = False
    builder = ThingDescriptionBuilder(stage_entry, lambda: needed)
    assert builder.document(ROOT)["security"] == ["nosec_sc"]
    needed = True
    td = builder.document(ROOT)
    assert td["security"] == ["bearer_sc"]
    bearer = td["securityDefinitions"]["bearer_sc"]
    assert (bearer["scheme"], bearer["in"], bearer["name"]) == ("bearer", "header", "Authorization")
    td["securityDefinitions"]["bearer_sc"]["name"] = "changed"  # a fresh copy each time
    assert builder.document(ROOT)["securityDefinitions"]["bearer_sc"]["name"] == "Authorization"


def test_empty_descriptions_are_left_out(registry: ThingRegistry) -> None:
    bare = ThingDescriptionBuilder(registry.add("bare", Bare())).document(ROOT)
    assert "description" not in bare
    assert bare["properties"] == {} and bare["actions"] == {}
    stage = ThingDescriptionBuilder(registry.add("stage", Stage())).document(ROOT)
    assert "description" not in stage["actions"]["home"]
    assert "description" not in stage["properties"]["label"]
    assert stage["properties"]["position"]["description"] == "Where the stage is now, in steps."


def test_base_follows_the_server_root(stage_entry: ThingEntry) -> None:
    builder = ThingDescriptionBuilder(stage_entry)
    assert builder.document("http://a.example/")["base"] == "http://a.example/stage/"
    assert builder.document("https://b.example/lab/")["base"] == "https://b.example/lab/stage/"


def test_document_is_a_fresh_copy(stage_entry: ThingEntry) -> None:
    builder = ThingDescriptionBuilder(stage_entry)
    first = builder.document(ROOT)
    first["properties"]["speed"]["forms"].clear()
    first["actions"].clear()
    second = builder.document(ROOT)
    assert len(second["properties"]["speed"]["forms"]) == 3
    assert set(second["actions"]) == {"move", "home", "status", "goto"}


def test_ids_are_stable_urns_unless_given() -> None:
    first = ThingRegistry("Test lab").add("stage", Stage())
    again = ThingRegistry("Test lab").add("stage", Stage())
    other = ThingRegistry("Test lab").add("camera", Stage())
    assert first.thing_id.startswith("urn:uuid:")
    assert ThingDescriptionBuilder(first).document(ROOT)["id"] == first.thing_id
    assert first.thing_id == again.thing_id != other.thing_id
    given = ThingRegistry("Test lab").add("stage", Stage(), thing_id="urn:dev:ops:stage-1")
    assert ThingDescriptionBuilder(given).document(ROOT)["id"] == "urn:dev:ops:stage-1"


def test_writable_property(td: dict[str, Any]) -> None:
    speed = td["properties"]["speed"]
    assert speed["type"] == "number"
    assert (speed["minimum"], speed["maximum"]) == (0, 10)
    assert speed["description"] == "Top speed in mm/s"
    assert speed["readOnly"] is False and speed["writeOnly"] is False
    assert speed["observable"] is True
    forms = forms_by_op(speed["forms"])
    assert set(forms) == {"readproperty", "writeproperty", "observeproperty", "unobserveproperty"}
    assert forms["readproperty"]["htv:methodName"] == "GET"
    assert forms["writeproperty"]["htv:methodName"] == "PUT"
    for op in ("readproperty", "writeproperty"):
        assert forms[op]["href"] == ROOT + "stage/properties/speed"  # absolute
        assert forms[op]["contentType"] == "application/json"


def test_computed_property_with_a_setter_is_writable(td: dict[str, Any]) -> None:
    label = td["properties"]["label"]
    assert label["type"] == "string" and label["readOnly"] is False
    assert set(forms_by_op(label["forms"])) >= {"readproperty", "writeproperty", "observeproperty"}


def test_read_only_property_has_no_write_form(td: dict[str, Any]) -> None:
    position = td["properties"]["position"]
    assert position["type"] == "array" and position["items"] == {"type": "integer"}
    assert position["readOnly"] is True
    assert [form["op"] for form in position["forms"]] == [
        "readproperty",
        ["observeproperty", "unobserveproperty"],
    ]
    assert position["forms"][0]["htv:methodName"] == "GET"


def test_nullable_property_is_a_one_of_with_null(td: dict[str, Any]) -> None:
    target = td["properties"]["target"]
    assert target["oneOf"] == [{"type": "integer"}, {"type": "null"}]
    assert "type" not in target
    assert target["title"] == "target"


def test_action_input_schema(td: dict[str, Any]) -> None:
    move = td["actions"]["move"]
    assert move["description"] == "Move to (x, y) through the waypoints."
    schema = move["input"]
    assert schema["type"] == "object"
    assert set(schema["required"]) == {"x", "waypoints"}
    arguments = schema["properties"]
    assert arguments["x"] == {"type": "integer"}
    assert arguments["waypoints"] == {"type": "array", "items": {"type": "integer"}}
    assert arguments["y"] == {"type": "integer", "default": 0}
    assert arguments["speed"] == {
        "oneOf": [{"type": "number"}, {"type": "null"}],
        "default": None,
    }
    assert arguments["mode"]["enum"] == ["fast", "slow"]
    assert arguments["mode"]["default"] == "fast"
    assert move["output"] == {"type": "array", "items": {"type": "integer"}}


def test_action_flags(td: dict[str, Any]) -> None:
    for affordance in td["actions"].values():
        assert affordance["synchronous"] is True  # unless declared otherwise
    assert td["actions"]["move"]["safe"] is False
    assert td["actions"]["move"]["idempotent"] is False
    assert td["actions"]["status"]["safe"] is True
    assert td["actions"]["status"]["idempotent"] is True


def test_action_without_arguments_or_annotation(td: dict[str, Any]) -> None:
    home = td["actions"]["home"]
    assert "input" not in home and "output" not in home
    assert home["title"] == "home"


def test_action_returning_a_dict_and_taking_a_pair(td: dict[str, Any]) -> None:
    assert td["actions"]["status"]["output"]["type"] == "object"
    assert "input" not in td["actions"]["status"]
    point = td["actions"]["goto"]["input"]["properties"]["point"]
    assert point["type"] == "array" and point["minItems"] == point["maxItems"] == 2
    assert "output" not in td["actions"]["goto"]


RECORD = [{"success": True, "contentType": "application/json", "schema": "invocation"}]


@pytest.mark.parametrize("name", ["move", "home", "status", "goto"])
def test_action_forms_resolve_to_the_routes(td: dict[str, Any], name: str) -> None:
    affordance = td["actions"][name]
    expected = [
        ("invokeaction", "POST", f"{ROOT}stage/actions/{name}?sync=true"),
        ("invokeaction", "POST", f"{ROOT}stage/actions/{name}"),
        ("queryaction", "GET", f"{ROOT}actions/{{id}}"),
        ("cancelaction", "DELETE", f"{ROOT}actions/{{id}}"),
    ]
    forms = affordance["forms"]
    assert [(f["op"], f["htv:methodName"], f["href"]) for f in forms] == expected
    assert all(form["contentType"] == "application/json" for form in forms)
    # The synchronous form answers with the output; the others with an invocation record.
    assert "additionalResponses" not in forms[0]
    assert all(form["additionalResponses"] == RECORD for form in forms[1:])
    assert affordance["uriVariables"]["id"]["type"] == "string"
    assert td["schemaDefinitions"]["invocation"]["properties"]["status"]["enum"] == [
        "pending",
        "running",
        "completed",
        "cancelled",
        "error",
    ]


def test_an_asynchronous_action_lists_its_record_form_first(registry: ThingRegistry) -> None:
    class Scanner(Thing):
        @action(synchronous=False)
        def scan(self) -> int:
            return 1

    td = ThingDescriptionBuilder(registry.add("scanner", Scanner())).document(ROOT)
    scan = td["actions"]["scan"]
    assert scan["synchronous"] is False
    assert [(form["op"], form["href"]) for form in scan["forms"]] == [
        ("invokeaction", f"{ROOT}scanner/actions/scan"),
        ("queryaction", f"{ROOT}actions/{{id}}"),
        ("cancelaction", f"{ROOT}actions/{{id}}"),
        ("invokeaction", f"{ROOT}scanner/actions/scan?sync=true"),
    ]


def test_every_href_is_absolute_and_links_to_the_server(td: dict[str, Any]) -> None:
    forms = list(td["forms"])
    for kind in ("properties", "actions", "events"):
        forms += [form for affordance in td[kind].values() for form in affordance["forms"]]
    assert forms and all(form["href"].startswith(ROOT) for form in forms)
    assert td["links"] == [
        {"rel": "collection", "href": f"{ROOT}.well-known/wot", "type": "application/td+json"}
    ]


def test_properties_are_observable_over_server_sent_events(td: dict[str, Any]) -> None:
    for name, prop in td["properties"].items():
        form = forms_by_op(prop["forms"])["observeproperty"]
        assert form["op"] == ["observeproperty", "unobserveproperty"]  # closing unobserves
        # The WoT Profile's SSE binding: contentType is that of each message's data.
        assert (form["subprotocol"], form["contentType"]) == ("sse", "application/json")
        href = f"{ROOT}stage/properties/{name}/events?messages=unnamed"
        assert form["href"] == href


def test_events_are_described_with_subscription_forms(td: dict[str, Any]) -> None:
    limit = td["events"]["limit_reached"]
    assert limit["description"] == "An axis reached its limit."
    assert limit["data"]["type"] == "object"
    [form] = limit["forms"]
    assert (form["op"], form["subprotocol"]) == (["subscribeevent", "unsubscribeevent"], "sse")
    assert form["href"] == f"{ROOT}stage/events/limit_reached?messages=unnamed"
    assert set(td["events"]) == {"limit_reached", "heartbeat"}
    every = forms_by_op(td["forms"])["subscribeallevents"]
    assert every["op"] == ["subscribeallevents", "unsubscribeallevents"]
    assert urljoin(td["base"], every["href"]) == f"{ROOT}stage/events"


def test_query_all_actions_form(td: dict[str, Any]) -> None:
    form = forms_by_op(td["forms"])["queryallactions"]
    assert form["op"] == "queryallactions"
    assert form["htv:methodName"] == "GET"
    assert urljoin(td["base"], form["href"]) == ROOT + "actions?thing=stage"


def test_a_default_json_cannot_hold_fails_at_registration(registry: ThingRegistry) -> None:
    class Broken(Thing):
        @action
        def scan(self, step: float = float("nan")) -> None:
            pass

    with pytest.raises(ConfigurationError, match="broken"):
        ThingDescriptionBuilder(registry.add("broken", Broken()))
