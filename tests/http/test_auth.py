"""Access tokens at the HTTP edge: every kind of route needs one once the server has one;
401 with WWW-Authenticate: Bearer, 403 for a read token that writes, records name who
asked, and the TD and OpenAPI document say so."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from flask.testing import FlaskClient
from lab_for_tests import make_labthing
from openapi_spec_validator import validate
from werkzeug.test import TestResponse

from labthings import LabThing
from labthings.core.access.tokens import TokenStore

TD_SCHEMA = json.loads(
    (Path(__file__).parents[1] / "support" / "data" / "wot-td-1.1-schema.json").read_text(
        encoding="utf-8"
    )
)
PUBLIC = [
    "/ui/",
    "/ui/app.js",
    "/ui/token.js",
    "/ui/style.css",
    "/docs/",
    "/docs/static/swagger-ui.css",
]
"""The web page's and the docs' files: the same for every lab, needed to ask for a token."""
STREAMS = [
    "/events",
    "/actions/events",
    "/actions/{id}/events",
    "/calc/events",
    "/calc/events/announced",
    "/calc/properties/value/events",
]
READS = [
    "/",
    "/calc/",
    "/calc/properties/value",
    "/calc/actions/add",
    "/actions",
    "/actions/{id}",
    "/docs/openapi.json",
    "/nope",  # unknown paths too: without a token, nothing says what exists
]
WRITES: list[tuple[str, str, Any]] = [
    ("PUT", "/calc/properties/value", 2.5),
    ("POST", "/calc/actions/add", {"a": 1, "b": 2}),
    ("DELETE", "/actions/{id}", None),
]


@pytest.fixture
def store(tmp_path: Path) -> TokenStore:
    return TokenStore(tmp_path)


@pytest.fixture
def tokens(store: TokenStore) -> dict[str, str]:
    """A token of each scope, by scope."""
    return {"read": store.create("reader", "read"), "control": store.create("alice", "control")}


@pytest.fixture
def secured_lab(store: TokenStore, tokens: dict[str, str]) -> Iterator[LabThing]:
    labthing = make_labthing(shutdown_wait=2.0)
    labthing.configure_access(tokens=store)
    with labthing:
        yield labthing


@pytest.fixture
def client(secured_lab: LabThing) -> FlaskClient:
    return secured_lab.create_app().test_client()


@pytest.fixture
def invocation(client: FlaskClient, tokens: dict[str, str]) -> str:
    """The id of a finished invocation of calc.add."""
    response = client.post("/calc/actions/add", json={"a": 1, "b": 2}, headers=bearer(tokens))
    assert response.status_code == 201
    record = response.get_json()
    assert record["status"] == "completed"
    return str(record["id"])


def bearer(tokens: dict[str, str], scope: str = "control") -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[scope]}"}


def request(
    client: FlaskClient, method: str, path: str, body: Any = None, **headers: str
) -> TestResponse:
    """`method path`, with a JSON body if given, closed before it is returned (streams
    are read no further than their headers)."""
    options: dict[str, Any] = {"headers": headers, "buffered": False}
    if body is not None:
        options["json"] = body
    response = client.open(path, method=method, **options)
    response.close()
    return response


def assert_refused(response: TestResponse, status: int, error: str | None = None) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer")
    assert (f'error="{error}"' in challenge) if error else ("error=" not in challenge)


@pytest.mark.parametrize("path", READS + STREAMS)
def test_reading_any_route_needs_a_token(
    client: FlaskClient, tokens: dict[str, str], invocation: str, path: str
) -> None:
    path = path.format(id=invocation)
    response = request(client, "GET", path)
    assert_refused(response, 401)
    assert "Authorization: Bearer" in response.get_json()["detail"]
    assert_refused(
        request(client, "GET", path, Authorization="Bearer lt_wrong"), 401, "invalid_token"
    )
    for malformed in ("Bearer ", "Bearer lt_a lt_b", "Bearer lt_a, Bearer lt_a"):
        assert_refused(
            request(client, "GET", path, Authorization=malformed), 400, "invalid_request"
        )
    for scope in ("read", "control"):
        allowed = request(client, "GET", path, **bearer(tokens, scope))
        assert allowed.status_code == (404 if path == "/nope" else 200), path
        assert "WWW-Authenticate" not in allowed.headers


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_writing_needs_a_control_token(
    client: FlaskClient,
    tokens: dict[str, str],
    invocation: str,
    method: str,
    path: str,
    body: Any,
) -> None:
    path = path.format(id=invocation)
    assert_refused(request(client, method, path, body), 401)
    for _ in range(2):  # the second time, the server recalls the token it checked
        refused = request(client, method, path, body, **bearer(tokens, "read"))
        assert_refused(refused, 403, "insufficient_scope")
    assert "reader" in refused.get_json()["detail"] and "control" in refused.get_json()["detail"]
    done = request(client, method, path, body, **bearer(tokens, "control"))
    # The DELETE of a finished invocation is a 409: it got past the token check.
    assert done.status_code in {200, 201, 409}, done.get_data(as_text=True)


def test_a_read_token_may_use_head_and_options(client: FlaskClient, tokens: dict[str, str]) -> None:
    assert_refused(request(client, "OPTIONS", "/calc/properties/value"), 401)
    assert (
        request(client, "HEAD", "/calc/properties/value", **bearer(tokens, "read")).status_code
        == 200
    )
    options = request(client, "OPTIONS", "/calc/properties/value", **bearer(tokens, "read"))
    assert options.status_code == 204 and "PUT" in options.headers["Allow"]


@pytest.mark.parametrize("path", PUBLIC)
def test_the_pages_files_need_no_token(client: FlaskClient, path: str) -> None:
    assert request(client, "GET", path).status_code == 200


def test_a_browser_opening_the_root_is_sent_to_the_page(client: FlaskClient) -> None:
    response = client.get("/", headers={"Accept": "text/html,*/*;q=0.8"})
    assert response.status_code == 303 and response.headers["Location"].endswith("ui/")
    assert_refused(client.get("/", headers={"Accept": "application/json"}), 401)


def test_streams_also_take_the_token_from_the_query(
    client: FlaskClient, tokens: dict[str, str]
) -> None:
    with client.get(f"/events?access_token={tokens['read']}", buffered=False) as stream:
        assert stream.status_code == 200 and stream.mimetype == "text/event-stream"
    assert_refused(request(client, "GET", "/events?access_token=lt_wrong"), 401, "invalid_token")
    assert_refused(request(client, "GET", "/events?access_token="), 400, "invalid_request")
    assert request(client, "GET", "/calc/", **bearer(tokens, "read")).status_code == 200
    both = request(  # the header passed just now: still one method, not two
        client, "GET", f"/events?access_token={tokens['read']}", **bearer(tokens, "read")
    )
    assert_refused(both, 400, "invalid_request")  # RFC 6750 3.1: one method, not two
    # Nothing else does: tokens stay out of the links pages hold and proxies log.
    read = f"/calc/properties/value?access_token={tokens['read']}"
    assert_refused(request(client, "GET", read), 401)


def test_records_say_which_token_asked(client: FlaskClient, tokens: dict[str, str]) -> None:
    record = client.post("/calc/actions/add", json={"a": 2, "b": 3}, headers=bearer(tokens)).json
    assert record is not None and record["requestedBy"] == "alice"
    listed = client.get("/actions", headers=bearer(tokens, "read")).get_json()
    assert listed[0]["id"] == record["id"] and listed[0]["requestedBy"] == "alice"


def test_records_say_nobody_without_tokens(labthing: LabThing) -> None:
    client = labthing.create_app().test_client()
    record = client.post("/calc/actions/add", json={"a": 2, "b": 3}).get_json()
    assert "requestedBy" in record and record["requestedBy"] is None


def test_revoked_tokens_are_refused_at_once(
    client: FlaskClient, tokens: dict[str, str], tmp_path: Path
) -> None:
    assert client.get("/calc/", headers=bearer(tokens, "read")).status_code == 200
    TokenStore(tmp_path).revoke("reader")  # as `labthings token revoke` does
    assert_refused(client.get("/calc/", headers=bearer(tokens, "read")), 401, "invalid_token")
    TokenStore(tmp_path).revoke("alice")  # the last one: still closed, never open
    assert_refused(client.get("/calc/"), 401)


def test_a_server_without_tokens_is_open_until_one_is_made(tmp_path: Path) -> None:
    labthing = make_labthing(shutdown_wait=2.0)
    labthing.configure_access(tokens=TokenStore(tmp_path))
    with labthing:
        client = labthing.create_app().test_client()
        assert client.get("/calc/properties/value").status_code == 200
        assert client.get("/calc/").get_json()["security"] == ["nosec_sc"]
        token = TokenStore(tmp_path).create("alice", "read")
        assert_refused(client.get("/calc/properties/value"), 401)
        assert client.get("/calc/", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def _validate_td(td: dict[str, Any]) -> None:
    validator_class = jsonschema.validators.validator_for(TD_SCHEMA)
    validator_class(TD_SCHEMA, format_checker=validator_class.FORMAT_CHECKER).validate(td)


def test_thing_descriptions_carry_the_bearer_scheme(
    client: FlaskClient, tokens: dict[str, str]
) -> None:
    for thing in ("calc", "slow", "recorder"):
        td = client.get(f"/{thing}/", headers=bearer(tokens, "read")).get_json()
        _validate_td(td)
        assert td["security"] == ["bearer_sc"]
        scheme = td["securityDefinitions"]["bearer_sc"]
        assert scheme["scheme"] == "bearer"
        assert (scheme["in"], scheme["name"]) == ("header", "Authorization")


def test_thing_descriptions_say_nosec_without_tokens(labthing: LabThing) -> None:
    td = labthing.create_app().test_client().get("/calc/").get_json()
    _validate_td(td)
    assert td["securityDefinitions"] == {"nosec_sc": {"scheme": "nosec"}}


def test_the_openapi_document_has_the_bearer_scheme_on_every_operation(
    client: FlaskClient, tokens: dict[str, str]
) -> None:
    spec = client.get("/docs/openapi.json", headers=bearer(tokens, "read")).get_json()
    validate(spec)
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert schemes["accessTokenQuery"]["in"] == "query"
    operations = [(p, m, o) for p, item in spec["paths"].items() for m, o in item.items()]
    assert len(operations) > 20
    for path, method, operation in operations:
        assert {"bearerAuth": []} in operation["security"], (path, method)
        assert {"401", "403"} <= set(operation["responses"]), (path, method)
        streams = "text/event-stream" in operation["responses"].get("200", {}).get("content", {})
        assert ({"accessTokenQuery": []} in operation["security"]) is streams, (path, method)


def test_the_openapi_document_has_no_security_without_tokens(labthing: LabThing) -> None:
    spec = labthing.create_app().test_client().get("/docs/openapi.json").get_json()
    validate(spec)
    assert "securitySchemes" not in spec["components"]
    for item in spec["paths"].values():
        for operation in item.values():
            assert "security" not in operation and "401" not in operation["responses"]
