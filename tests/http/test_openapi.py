"""The OpenAPI document is valid and complete, and Swagger UI loads from local files."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from labthings import LabThing


@pytest.fixture
def spec(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/docs/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.get_json()
    return document


def test_openapi_document_is_valid(spec: dict[str, Any]) -> None:
    validate(spec)
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] == "Test lab"


def test_every_route_is_described(spec: dict[str, Any], labthing: LabThing) -> None:
    paths = spec["paths"]
    assert set(paths["/actions/{id}"]) >= {"get", "delete"}
    assert "get" in paths["/actions"] and "get" in paths["/"]
    for entry in labthing.registry:
        assert "get" in paths[f"/{entry.name}/"]
        for name, prop in type(entry.thing).properties().items():
            operations = paths[f"/{entry.name}/properties/{name}"]
            assert ("put" in operations) is (not prop.readonly)
        for name in type(entry.thing).actions():
            assert {"get", "post"} <= set(paths[f"/{entry.name}/actions/{name}"])


def test_action_schemas_describe_arguments_outputs_and_errors(spec: dict[str, Any]) -> None:
    post = spec["paths"]["/calc/actions/add"]["post"]
    arguments = post["requestBody"]["content"]["application/json"]["schema"]
    assert arguments["required"] == ["a", "b"]
    assert arguments["properties"]["a"]["type"] == "number"
    created = post["responses"]["201"]
    output = created["content"]["application/json"]["schema"]["allOf"][1]
    assert output["properties"]["output"]["type"] == "number"
    assert "Location" in created["headers"]
    assert {"400", "413", "415", "422"} <= set(post["responses"])
    problem = post["responses"]["422"]["content"]["application/problem+json"]["schema"]
    assert problem == {"$ref": "#/components/schemas/ValidationProblem"}
    record = spec["components"]["schemas"]["InvocationRecord"]["properties"]
    assert record["status"]["enum"] == ["pending", "running", "completed", "cancelled", "error"]
    writes = spec["paths"]["/calc/properties/limited"]["put"]
    schema = writes["requestBody"]["content"]["application/json"]["schema"]
    assert (schema["minimum"], schema["maximum"]) == (0, 10)
    assert "409" in writes["responses"]


def test_swagger_ui_loads_only_local_assets(client: FlaskClient) -> None:
    response = client.get("/docs/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert len(assets) >= 3
    for asset in assets:
        assert "://" not in asset and not asset.startswith("//"), asset
        with client.get(f"/docs/{asset}") as loaded:
            assert loaded.status_code == 200, asset
            assert len(loaded.get_data()) > 1000
    assert 'url: "openapi.json"' in page


@pytest.mark.parametrize(
    "path",
    [
        "/docs/static/../../setup.py",
        "/docs/static/%2e%2e/%2e%2e/etc/passwd",
        "/docs/static/nope.js",
    ],
)
def test_docs_static_files_refuse_traversal(client: FlaskClient, path: str) -> None:
    with client.get(path) as response:
        assert response.status_code == 404
