"""Web pages of other sites cannot drive the lab, with or without a body; the origins
allowed with --cors-origin get CORS, and no other origin gets a CORS header."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from lab_for_tests import make_labthing

from labthings import ConfigurationError, LabThing
from labthings.core.access.tokens import TokenStore

NOTEBOOK = "https://notebooks.example.org:8888"
EVIL = "https://evil.example"
WRITES: list[tuple[str, str, Any]] = [
    ("POST", "/calc/actions/add", {"a": 1, "b": 2}),
    ("POST", "/calc/actions/add", None),  # an empty body needs no preflight either
    ("PUT", "/calc/properties/value", 2.5),
    ("DELETE", "/actions/some-id", None),
]


@pytest.fixture
def cors_lab(tmp_path: Path) -> Iterator[tuple[LabThing, str]]:
    """A lab with a control token that lets the notebooks' origin use it."""
    store = TokenStore(tmp_path)
    token = store.create("alice", "control")
    labthing = make_labthing(shutdown_wait=2.0)
    labthing.configure_access(tokens=store, cors_origins=[NOTEBOOK + "/"])
    with labthing:
        yield labthing, token


def send(client: FlaskClient, method: str, path: str, body: Any, **headers: str) -> Any:
    options: dict[str, Any] = {"headers": headers}
    if body is not None:
        options["json"] = body
    return client.open(path, method=method, **options)


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "cross-site", "Origin": EVIL},
        {"Origin": EVIL},
        {"Origin": "null"},  # a sandboxed frame or a file:// page
        {"Origin": "http://localhost:8080"},  # another port is another origin
    ],
)
def test_writes_from_other_sites_are_refused(
    client: FlaskClient, labthing: LabThing, method: str, path: str, body: Any, headers: dict
) -> None:
    before = len(labthing.runner.page(limit=100).records)
    response = send(client, method, path, body, **headers)
    assert response.status_code == 403, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert "--cors-origin" in response.get_json()["detail"]
    assert "Access-Control-Allow-Origin" not in response.headers
    assert len(labthing.runner.page(limit=100).records) == before  # nothing was started


@pytest.mark.parametrize(
    "headers",
    [
        {},  # scripts, curl, notebooks' Python: no browser headers
        {"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"},
        {"Sec-Fetch-Site": "none"},  # typed by the user
        {"Origin": "http://localhost:80"},
        {"Origin": "HTTP://LOCALHOST"},
    ],
)
def test_writes_from_the_servers_own_page_and_from_scripts_pass(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    response = send(client, "POST", "/calc/actions/add", {"a": 1, "b": 2}, **headers)
    assert response.status_code == 201, response.get_data(as_text=True)


def test_reads_from_other_sites_are_not_refused_but_get_no_cors(client: FlaskClient) -> None:
    response = client.get("/calc/properties/value", headers={"Origin": EVIL})
    assert response.status_code == 200
    assert not any(name.startswith("Access-Control-") for name in response.headers.keys())
    preflight = client.options(
        "/calc/actions/add",
        headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"},
    )
    assert not any(name.startswith("Access-Control-") for name in preflight.headers.keys())


def test_an_allowed_origin_gets_cors_and_may_write(cors_lab: tuple[LabThing, str]) -> None:
    labthing, token = cors_lab
    client = labthing.create_app().test_client()
    headers = {"Origin": NOTEBOOK, "Sec-Fetch-Site": "cross-site"}
    response = client.post(
        "/calc/actions/add",
        json={"a": 1, "b": 2},
        headers={**headers, "Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201
    assert response.headers["Access-Control-Allow-Origin"] == NOTEBOOK
    assert "Origin" in response.headers["Vary"]
    exposed = {
        name.strip() for name in response.headers["Access-Control-Expose-Headers"].split(",")
    }
    assert {"Location", "ETag", "Link", "Retry-After", "Preference-Applied"} <= exposed
    assert "Access-Control-Allow-Credentials" not in response.headers
    # Its page can read why a request was refused, too.
    refused = client.get("/calc/properties/value", headers=headers)
    assert refused.status_code == 401
    assert refused.headers["Access-Control-Allow-Origin"] == NOTEBOOK


def test_an_allowed_origins_preflight_is_answered_without_a_token(
    cors_lab: tuple[LabThing, str],
) -> None:
    labthing, _ = cors_lab
    client = labthing.create_app().test_client()
    response = client.options(
        "/calc/actions/add",
        headers={
            "Origin": NOTEBOOK,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == NOTEBOOK
    assert {"POST", "PUT", "DELETE"} <= set(
        response.headers["Access-Control-Allow-Methods"].replace(" ", "").split(",")
    )
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    for header in ("authorization", "content-type", "prefer", "idempotency-key", "last-event-id"):
        assert header in allowed
    other = client.options(
        "/calc/actions/add", headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"}
    )
    assert other.status_code == 401 and "Access-Control-Allow-Origin" not in other.headers
    write = client.post("/calc/actions/add", json={}, headers={"Origin": EVIL})
    assert write.status_code == 403


@pytest.mark.parametrize(
    "origin", ["*", "notebooks.example.org", "https://x.org/path", "ftp://x.org", "https://"]
)
def test_cors_origins_must_be_origins(origin: str) -> None:
    with pytest.raises(ConfigurationError, match="is not an origin"):
        make_labthing().configure_access(cors_origins=[origin])
