"""Reused invocations at the HTTP edge: the Idempotency-Key header (its forms and its
errors), the 200 that hands back an invocation with `LabThings-Reused` and a `reused`
link, keys per access token, and how the OpenAPI document and the TD describe it all."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import schemathesis
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from lab_dedupe import SHORT_CACHE, fuzz_call, make_lab
from openapi_spec_validator import validate
from werkzeug.test import TestResponse

from labthings import LabThing
from labthings.core.access.tokens import TokenStore
from labthings.core.tasks.idempotency import IdempotencyKeyBusy
from labthings.http.idempotency import MAX_KEY_LENGTH
from labthings.http.problems import ErrorStatuses

TD_SCHEMA = json.loads(
    (Path(__file__).parents[1] / "support" / "data" / "wot-td-1.1-schema.json").read_text(
        encoding="utf-8"
    )
)
KEY = "8e03978e-40d5-43e8-bc93-6894a57f9324"


@pytest.fixture
def lab() -> Iterator[LabThing]:
    server = make_lab()
    with server:
        yield server


@pytest.fixture
def client(lab: LabThing) -> FlaskClient:
    return lab.create_app().test_client()


def post(
    client: FlaskClient, action: str, body: Any, key: str | None = None, **headers: str
) -> TestResponse:
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post(f"/counter/actions/{action}", json=body, headers=headers)


def runs(client: FlaskClient) -> dict[str, int]:
    counts: dict[str, int] = client.get("/counter/properties/runs").get_json()
    return counts


def assert_reused(response: TestResponse, first: TestResponse, reason: str) -> None:
    """`response` hands back the invocation of `first`, saying why."""
    assert response.status_code == 200, response.get_json()
    assert response.headers["Location"] == first.headers["Location"]
    assert response.headers["LabThings-Reused"] == reason
    record = response.get_json()
    assert record["id"] == first.get_json()["id"]
    assert {"rel": "reused", "href": record["href"], "reason": reason} in record["links"]


def test_the_same_key_and_body_get_the_first_invocation(client: FlaskClient) -> None:
    first = post(client, "measure", {"x": 1}, f'"{KEY}"')
    assert first.status_code == 201 and "LabThings-Reused" not in first.headers
    assert all(link["rel"] != "reused" for link in first.get_json()["links"])
    again = post(client, "measure", {"x": 1, "y": 0}, f'"{KEY}"')
    assert_reused(again, first, "idempotency-key")
    assert again.get_json()["output"] == 1
    assert runs(client) == {"measure": 1}
    # The record itself is not changed: a GET has no `reused` link.
    record = client.get(first.headers["Location"]).get_json()
    assert all(link["rel"] != "reused" for link in record["links"])


@pytest.mark.parametrize(
    "header",
    [KEY, f'"{KEY}"', f' "{KEY}" ', f'"{KEY}";created=1', f'"{KEY}"; a; b="c"'],
    ids=["bare", "quoted", "spaces", "parameter", "parameters"],
)
def test_a_key_may_be_quoted_or_bare_and_parameters_are_ignored(
    client: FlaskClient, header: str
) -> None:
    first = post(client, "measure", {"x": 1}, f'"{KEY}"')
    assert_reused(post(client, "measure", {"x": 1}, header), first, "idempotency-key")


def test_escapes_in_a_quoted_key_are_read() -> None:
    from labthings.http.idempotency import parse_key

    assert parse_key(r'"a \"b\" \\c"') == 'a "b" \\c'
    assert parse_key("abc") == parse_key('"abc"') == "abc"


@pytest.mark.parametrize(
    ("header", "why"),
    [
        ('""', "empty"),
        ("", "empty"),
        ('"a", "b"', "not a list"),
        ('"a", b', "not a list"),
        ("?1", "quoted string"),
        ('"unterminated', "quoted string"),
        ('"tab\there"', "quoted string"),
        ('"caf\u00e9"', "quoted string"),
        ("two words", "quoted string"),
        ('"' + "k" * (MAX_KEY_LENGTH + 1) + '"', "at most 255"),
    ],
)
def test_a_malformed_key_is_a_400_that_says_why(client: FlaskClient, header: str, why: str) -> None:
    response = post(client, "measure", {"x": 1}, header)
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert why in response.get_json()["detail"]
    assert runs(client) == {}


def test_the_longest_key_is_kept(client: FlaskClient) -> None:
    key = '"' + "k" * MAX_KEY_LENGTH + '"'
    first = post(client, "measure", {"x": 1}, key)
    assert first.status_code == 201
    assert_reused(post(client, "measure", {"x": 1}, key), first, "idempotency-key")


def test_two_key_headers_are_a_400(client: FlaskClient) -> None:
    response = client.post(
        "/counter/actions/measure",
        json={"x": 1},
        headers=[("Idempotency-Key", '"a"'), ("Idempotency-Key", '"b"')],
    )
    assert response.status_code == 400
    assert "send one Idempotency-Key, not a list" in response.get_json()["detail"]


def test_a_key_still_being_started_after_a_long_wait_is_a_409() -> None:
    assert ErrorStatuses().status_of(IdempotencyKeyBusy("busy")) == 409


def test_the_same_key_with_another_body_or_action_is_a_422(client: FlaskClient) -> None:
    first = post(client, "measure", {"x": 1}, '"k"')
    other_body = post(client, "measure", {"x": 2}, '"k"')
    assert other_body.status_code == 422
    problem = other_body.get_json()
    assert "used with another body" in problem["detail"]
    assert first.get_json()["id"] in problem["detail"]
    assert list(problem["errors"]) == ["Idempotency-Key"]
    other_action = post(client, "hold", {"seconds": 0}, '"k"')
    assert other_action.status_code == 422
    assert "another action (counter/measure" in other_action.get_json()["detail"]
    assert runs(client) == {"measure": 1}


def test_bad_input_with_a_key_is_the_usual_422_and_keeps_no_key(client: FlaskClient) -> None:
    response = post(client, "measure", {"x": "one"}, '"k"')
    assert response.status_code == 422 and "x" in response.get_json()["errors"]
    assert post(client, "measure", {"x": 1}, '"k"').status_code == 201


def test_a_reused_unfinished_invocation_honours_prefer_wait(client: FlaskClient) -> None:
    first = post(client, "scan", {"seconds": 0.5}, Prefer="respond-async")
    assert first.status_code == 201 and first.get_json()["status"] in ("pending", "running")
    joined = post(client, "scan", {"seconds": 0.5}, Prefer="wait=10")
    assert_reused(joined, first, "dedupe")
    assert joined.get_json()["status"] == "completed"
    assert joined.headers["Preference-Applied"] == "wait=10"
    assert runs(client) == {"scan": 1}


def test_a_cached_result_is_handed_back_with_a_200(client: FlaskClient) -> None:
    first = post(client, "flash", {"level": 3})
    assert first.status_code == 201 and first.get_json()["output"] == 3
    assert_reused(post(client, "flash", {"level": 3}), first, "cache")
    assert post(client, "flash", {"level": 4}).status_code == 201
    assert runs(client) == {"flash": 2}


def test_keys_belong_to_their_token(tmp_path: Path) -> None:
    tokens = TokenStore(tmp_path)
    alice, bob = tokens.create("alice", "control"), tokens.create("bob", "control")
    server = make_lab()
    server.configure_access(tokens=tokens)
    with server:
        client = server.create_app().test_client()

        def as_user(token: str, x: int) -> TestResponse:
            return post(client, "measure", {"x": x}, '"shared"', Authorization=f"Bearer {token}")

        first = as_user(alice, 1)
        assert first.status_code == 201 and first.get_json()["requestedBy"] == "alice"
        theirs = as_user(bob, 2)  # bob's own key of the same name, another body
        assert theirs.status_code == 201 and theirs.get_json()["requestedBy"] == "bob"
        assert_reused(as_user(alice, 1), first, "idempotency-key")
        assert as_user(alice, 2).status_code == 422


def test_a_web_page_of_an_allowed_origin_may_read_why() -> None:
    server = make_lab()
    server.configure_access(cors_origins=["https://notebooks.example.org"])
    with server:
        client = server.create_app().test_client()
        origin = {"Origin": "https://notebooks.example.org"}
        first = post(client, "flash", {"level": 1}, **origin)
        again = post(client, "flash", {"level": 1}, **origin)
        assert_reused(again, first, "cache")
        exposed = again.headers["Access-Control-Expose-Headers"]
        assert {"Location", "LabThings-Reused"} <= {name.strip() for name in exposed.split(",")}


# -- documents ------------------------------------------------------------------------------


def test_the_openapi_document_describes_keys_and_reused_replies(client: FlaskClient) -> None:
    spec = client.get("/docs/openapi.json").get_json()
    validate(spec)
    for action in ("measure", "scan", "dark", "flash", "both"):
        post_operation = spec["paths"][f"/counter/actions/{action}"]["post"]
        header = next(p for p in post_operation["parameters"] if p["name"] == "Idempotency-Key")
        assert header["in"] == "header" and not header["required"]
        reused = post_operation["responses"]["200"]
        assert {"Location", "LabThings-Reused"} <= set(reused["headers"])
        assert reused["headers"]["LabThings-Reused"]["schema"]["enum"] == [
            "idempotency-key",
            "dedupe",
            "cache",
        ]
        # 200 is also the output of ?sync=true (the synchronous form), so the record is
        # one of the bodies it may hold.
        record = post_operation["responses"]["201"]["content"]["application/json"]["schema"]
        assert record in reused["content"]["application/json"]["schema"]["anyOf"]
        assert "still being started" in post_operation["responses"]["409"]["description"]
        assert "Idempotency-Key" in post_operation["responses"]["422"]["description"]
    paths = spec["paths"]
    dark = paths["/counter/actions/dark"]["post"]["responses"]["200"]["description"]
    assert "completed less than 3600 s ago" in dark
    scan = paths["/counter/actions/scan"]["post"]["responses"]["200"]["description"]
    assert "pending or running" in scan


def test_the_td_says_which_actions_reuse_invocations_and_stays_valid(
    client: FlaskClient,
) -> None:
    td = client.get("/counter/").get_json()
    validator_class = jsonschema.validators.validator_for(TD_SCHEMA)
    validator = validator_class(TD_SCHEMA, format_checker=validator_class.FORMAT_CHECKER)
    assert [error.message for error in validator.iter_errors(td)] == []
    actions = td["actions"]
    assert actions["scan"]["description"].startswith("A de-duplicated scan")
    assert "pending or running invocation gets that invocation" in actions["scan"]["description"]
    assert f"less than {SHORT_CACHE:g} s ago" in actions["flash"]["description"]
    assert "gets it back" not in actions["measure"]["description"]


# -- fuzzing --------------------------------------------------------------------------------

_fuzzed: LabThing = make_lab(max_wait=0.05)
_schema = schemathesis.openapi.from_wsgi("/docs/openapi.json", _fuzzed.create_app())
_tokens = tempfile.TemporaryDirectory(prefix="labthings-fuzz-reuse-")


@pytest.fixture(scope="module", autouse=True)
def opened_fuzzed_lab() -> Iterator[None]:
    with _tokens, _fuzzed:
        yield


@_schema.include(path_regex=r"^/counter/actions/").parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_key_or_body_breaks_the_reusing_post(case: schemathesis.Case) -> None:
    fuzz_call(case)
