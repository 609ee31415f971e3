"""The route table is the one source of the Flask rules, the OpenAPI paths and TD forms."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from flask.testing import FlaskClient

from labthings import LabThing
from labthings.core.describe.openapi import Fragment, build_openapi, expand
from labthings.core.describe.routes import ROUTES, flask_rule
from labthings.core.errors import ConfigurationError
from labthings.http.routes import FEATURE_DOCS, VIEWS


def test_every_route_has_a_view_and_every_view_a_route() -> None:
    assert {route.endpoint for route in ROUTES} == set(VIEWS)


def test_the_flask_rules_are_exactly_the_table(labthing: LabThing) -> None:
    app = labthing.create_app()
    rules = {
        rule.endpoint: (rule.rule, set(rule.methods or ()) - {"HEAD", "OPTIONS"})
        for rule in app.url_map.iter_rules()
    }
    assert rules == {
        route.endpoint: (flask_rule(route.path), set(route.methods)) for route in ROUTES
    }


def openapi_of(labthing: LabThing, features: Mapping[str, Fragment]) -> dict[str, Any]:
    return build_openapi(
        title="t",
        description="",
        version="1",
        registry=labthing.registry,
        settings=labthing.settings,
        features=features,
    )


def test_the_openapi_paths_are_the_table_expanded(labthing: LabThing) -> None:
    document = openapi_of(labthing, FEATURE_DOCS)
    expected: dict[str, set[str]] = {}
    for route in ROUTES:
        for path, target in expand(route, labthing.registry, labthing.settings):
            methods = {
                operation.method.lower()
                for operation in route.operations
                if operation.describe is not None and operation.applies(target)
            }
            if methods:
                expected[path] = methods
    assert {path: set(item) for path, item in document["paths"].items()} == expected
    assert "/calc/properties/readonly_value" in expected
    assert expected["/calc/properties/readonly_value"] == {"get"}  # no PUT: read-only


def test_an_undocumented_feature_is_refused(labthing: LabThing) -> None:
    features = {name: piece for name, piece in FEATURE_DOCS.items() if name != "etag"}
    with pytest.raises(ConfigurationError, match="etag"):
        openapi_of(labthing, features)


def test_each_feature_documents_the_operations_that_use_it(client: FlaskClient) -> None:
    paths: dict[str, Any] = client.get("/docs/openapi.json").get_json()["paths"]
    read = paths["/calc/properties/value"]["get"]
    assert "304" in read["responses"] and "ETag" in read["responses"]["200"]["headers"]
    record = paths["/actions/{id}"]["get"]
    assert {p["name"] for p in record["parameters"]} >= {"id", "wait", "If-None-Match"}
    listing = paths["/actions"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {"status", "limit", "cursor"}
    assert "Link" in listing["responses"]["200"]["headers"]
    post = paths["/calc/actions/add"]["post"]
    assert "Preference-Applied" in post["responses"]["201"]["headers"]
    assert {"400", "413", "415", "422"} <= set(post["responses"])
    stream = paths["/calc/properties/value/events"]["get"]
    assert "text/event-stream" in stream["responses"]["200"]["content"]
    assert "Last-Event-ID" in {p["name"] for p in stream["parameters"]}


def test_td_forms_come_from_the_table(client: FlaskClient) -> None:
    td = client.get("/calc/").get_json()
    ops = {
        op: form["htv:methodName"]
        for affordance in td["properties"].values()
        for form in affordance["forms"]
        for op in ([form["op"]] if isinstance(form["op"], str) else form["op"])
    }
    assert ops == {
        "readproperty": "GET",
        "writeproperty": "PUT",
        "observeproperty": "GET",
        "unobserveproperty": "GET",
    }
    assert all(
        form["op"] != "writeproperty" for form in td["properties"]["readonly_value"]["forms"]
    )
    root = "http://localhost/"
    action_forms = [(f["op"], f["href"]) for f in td["actions"]["add"]["forms"]]
    assert action_forms == [
        ("invokeaction", f"{root}calc/actions/add?sync=true"),
        ("invokeaction", f"{root}calc/actions/add"),
        ("queryaction", f"{root}actions/{{id}}"),
        ("cancelaction", f"{root}actions/{{id}}"),
    ]
    assert [(f["op"], f["href"]) for f in td["forms"]] == [
        ("queryallactions", f"{root}actions?thing=calc"),
        (["subscribeallevents", "unsubscribeallevents"], f"{root}calc/events"),
    ]
