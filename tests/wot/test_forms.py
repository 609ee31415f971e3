"""The forms generic WoT consumers use, over HTTP: the synchronous invokeaction form, the
unnamed-message streams of observe and subscribe forms, and the server's own TD at
/.well-known/wot (WoT Discovery)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
from flask.testing import FlaskClient
from served import SUPPORT, ServedLab
from sse import collect
from wot_lab import make_labthing

from labthings import LabThing
from labthings.core.access.tokens import TokenStore

TD_SCHEMA = json.loads((SUPPORT / "data" / "wot-td-1.1-schema.json").read_text(encoding="utf-8"))
RECORD_FORM = [{"success": True, "contentType": "application/json", "schema": "invocation"}]


@pytest.fixture
def bench() -> Iterator[LabThing]:
    with make_labthing(shutdown_wait=2.0) as labthing:
        yield labthing


@pytest.fixture
def bench_client(bench: LabThing) -> FlaskClient:
    return bench.create_app().test_client()


def test_the_synchronous_form_answers_with_the_output(client: FlaskClient) -> None:
    form = client.get("/calc/").get_json()["actions"]["add"]["forms"][0]
    assert (form["op"], form["href"]) == (
        "invokeaction",
        "http://localhost/calc/actions/add?sync=true",
    )
    response = client.post(form["href"], json={"a": 1, "b": 2})
    assert (response.status_code, response.mimetype, response.get_json()) == (
        200,
        "application/json",
        3.0,
    )
    assert "Location" not in response.headers
    [record] = client.get("/actions?action=add").get_json()  # recorded like any other
    assert (record["status"], record["output"]) == ("completed", 3.0)


def test_the_synchronous_form_of_each_kind_of_result(bench_client: FlaskClient) -> None:
    nothing = bench_client.post("/bench/actions/reset?sync=true")
    assert (nothing.status_code, nothing.data) == (204, b"")
    with bench_client.post("/bench/actions/report?sync=true") as report:
        assert (report.status_code, report.mimetype) == (200, "text/csv")
        assert report.data == b"x,y\n1,2\n"
    failed = bench_client.post("/bench/actions/fail?sync=true", json={"message": "no sample"})
    assert (failed.status_code, failed.mimetype) == (500, "application/problem+json")
    problem = failed.get_json()
    assert problem["type"] == "urn:labthings:problem:action-failed"
    assert "no sample" in problem["detail"] and problem["status"] == 500
    record = bench_client.get(problem["instance"]).get_json()
    assert (record["status"], record["error"]["detail"]) == ("error", problem["detail"])


def test_bad_input_is_refused_before_anything_starts(bench_client: FlaskClient) -> None:
    bad_flag = bench_client.post("/bench/actions/reset?sync=maybe")
    assert bad_flag.status_code == 422 and "sync" in bad_flag.get_json()["errors"]
    bad_input = bench_client.post("/bench/actions/scan?sync=true", json={"seconds": "long"})
    assert bad_input.status_code == 422 and "seconds" in bad_input.get_json()["errors"]
    assert bench_client.get("/actions").get_json() == []
    plain = bench_client.post("/bench/actions/reset?sync=false")
    assert plain.status_code == 201 and plain.get_json()["status"] == "completed"


def test_a_client_stating_a_preference_gets_the_record(bench_client: FlaskClient) -> None:
    for prefer in ("respond-async", "wait=5"):
        answer = bench_client.post(
            "/bench/actions/scan?sync=true", json={"seconds": 0}, headers={"Prefer": prefer}
        )
        assert answer.status_code == 201 and answer.headers["Preference-Applied"] == prefer
        assert answer.get_json()["href"] == answer.headers["Location"]


def test_a_cancelled_invocation_is_a_conflict(bench: LabThing, bench_client: FlaskClient) -> None:
    answers: list[Any] = []

    def invoke() -> None:
        answers.append(bench_client.post("/bench/actions/scan?sync=true", json={"seconds": 20}))

    waiting = threading.Thread(target=invoke)
    waiting.start()
    deadline = time.monotonic() + 10
    while not (running := bench_client.get("/actions?status=running").get_json()):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert bench_client.delete(running[0]["href"]).status_code == 200
    waiting.join(10)
    [answer] = answers
    assert answer.status_code == 409
    assert answer.get_json()["instance"] == running[0]["href"]


@pytest.mark.parametrize("settings", [{"sync_wait": 0.1}, {"max_wait": 0.1}])
def test_past_sync_wait_it_answers_as_the_asynchronous_form(settings: dict[str, float]) -> None:
    with make_labthing(shutdown_wait=2.0, **settings) as labthing:
        client = labthing.create_app().test_client()
        response = client.post("/bench/actions/scan?sync=true", json={"seconds": 0.5})
        assert response.status_code == 201
        record = response.get_json()
        assert record["status"] == "running" and response.headers["Location"] == record["href"]
        assert labthing.runner.get(record["id"]).wait(10)
        done = client.get(record["href"]).get_json()
        assert (done["status"], done["output"]) == ("completed", "scanned")


def test_an_asynchronous_action_offers_the_record_form_first(bench_client: FlaskClient) -> None:
    scan = bench_client.get("/bench/").get_json()["actions"]["scan"]
    assert scan["synchronous"] is False
    first, *_, last = scan["forms"]
    assert (first["href"], first["additionalResponses"]) == (
        "http://localhost/bench/actions/scan",
        RECORD_FORM,
    )
    assert last["href"].endswith("/bench/actions/scan?sync=true")
    answer = bench_client.post(first["href"], json={"seconds": 0})
    assert answer.status_code == 201 and answer.get_json()["output"] == "scanned"


def test_hrefs_are_absolute_for_the_host_the_client_used(labthing: LabThing) -> None:
    labthing.configure_access(allowed_hosts=["lab-pc.example"])  # else 421
    client = labthing.create_app().test_client()
    td = client.get("/calc/", headers={"Host": "lab-pc.example:8080"}).get_json()
    forms = td["properties"]["value"]["forms"] + td["actions"]["add"]["forms"]
    assert all(form["href"].startswith("http://lab-pc.example:8080/") for form in forms)


def _valid_td(document: dict[str, Any]) -> None:
    validator_class = jsonschema.validators.validator_for(TD_SCHEMA)
    validator = validator_class(TD_SCHEMA, format_checker=validator_class.FORMAT_CHECKER)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]
    assert errors == []


def test_the_well_known_td_introduces_the_server(client: FlaskClient) -> None:
    response = client.get("/.well-known/wot")
    assert (response.status_code, response.mimetype) == (200, "application/td+json")
    td = response.get_json()
    _valid_td(td)
    assert td["title"] == "Test lab" and td["security"] == ["nosec_sc"]
    items = [(link["href"], link["title"]) for link in td["links"] if link["rel"] == "item"]
    assert items == [
        ("http://localhost/calc/", "Calculator"),
        ("http://localhost/slow/", "Slow"),
        ("http://localhost/recorder/", "Recorder"),
    ]
    for href, _ in items:  # each Thing's TD links back to it
        thing = client.get(href).get_json()
        assert {"rel": "collection", "href": "http://localhost/.well-known/wot",
                "type": "application/td+json"} in thing["links"]  # fmt: skip
    paths = client.get("/docs/openapi.json").get_json()["paths"]
    assert "application/td+json" in paths["/.well-known/wot"]["get"]["responses"]["200"]["content"]


def test_the_well_known_td_needs_a_token_once_there_is_one(tmp_path: Path) -> None:
    store = TokenStore(tmp_path)
    token = store.create("alice", "read")
    with make_labthing(tokens=store) as labthing:
        client = labthing.create_app().test_client()
        assert client.get("/.well-known/wot").status_code == 401
        td = client.get("/.well-known/wot", headers={"Authorization": f"Bearer {token}"})
        _valid_td(td.get_json())
        assert td.get_json()["security"] == ["bearer_sc"]


@pytest.fixture(scope="module")
def lab() -> Iterator[ServedLab]:
    served = ServedLab(f"{SUPPORT / 'lab_for_tests.py'}:make_labthing")
    yield served
    served.stop()


def test_observe_forms_stream_unnamed_messages_of_the_value(lab: ServedLab) -> None:
    td = requests.get(f"{lab.url}calc/", timeout=5).json()
    [form] = [f for f in td["properties"]["value"]["forms"] if "observeproperty" in f["op"]]
    put = f"{lab.url}calc/properties/value"
    got = collect(
        form["href"],
        lambda message: message.data == 7.5,
        on_open=lambda: requests.put(put, json=7.5, timeout=5).raise_for_status(),
    )
    assert [(m.event, m.data) for m in got][-1] == ("message", 7.5)
    assert all(m.event == "message" for m in got)  # no event names: what node-wot reads
    named = collect(f"{lab.url}calc/properties/value/events", lambda message: True)
    assert [(m.event, m.data) for m in named] == [("value", 7.5)]  # the named stream is kept


def test_subscribe_forms_stream_unnamed_messages_of_the_data(lab: ServedLab) -> None:
    td = requests.get(f"{lab.url}calc/", timeout=5).json()
    [form] = td["events"]["announced"]["forms"]
    post = f"{lab.url}calc/actions/announce"
    got = collect(
        form["href"],
        lambda message: True,
        on_open=lambda: requests.post(post, json={"text": "hello"}, timeout=5).raise_for_status(),
    )
    assert [(m.event, m.data) for m in got] == [("message", "hello")]
    refused = requests.get(f"{lab.url}calc/events/announced?messages=loud", timeout=5)
    assert refused.status_code == 422 and "messages" in refused.json()["errors"]
