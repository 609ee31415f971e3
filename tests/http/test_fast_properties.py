"""Plain property reads and writes skip Flask's machinery (`PropertyFastPath`), and every
answer is the one the Flask app gives to the same request: status, headers and body,
with tokens, origins, hosts and every kind of bad value."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from lab_for_tests import make_labthing
from werkzeug.test import Client, TestResponse

from labthings import LabThing
from labthings.core.access.tokens import TokenStore
from labthings.http.fast_properties import PropertyFastPath

PAGE = "https://page.example"
"""A web page allowed with --cors-origin."""


@pytest.fixture
def labthing(tmp_path: Path) -> Iterator[LabThing]:
    store = TokenStore(tmp_path)
    labthing = make_labthing(shutdown_wait=2.0)
    labthing.configure_access(tokens=store, cors_origins=[PAGE])
    labthing.test_tokens = {  # type: ignore[attr-defined]
        "read": store.create("reader", "read"),
        "control": store.create("alice", "control"),
    }
    with labthing:
        yield labthing


class Paths:
    """The app with its fast path, the Flask app alone, and the paths Flask was given."""

    def __init__(self, app: Flask) -> None:
        fast = app.wsgi_app
        assert isinstance(fast, PropertyFastPath)
        flask_only = fast.flask
        self.to_flask: list[str] = []

        def counted(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            self.to_flask.append(environ["PATH_INFO"])
            return flask_only(environ, start_response)

        fast.flask = counted
        self.fast = Client(app)
        self.flask = Client(flask_only)


def _bearer(labthing: LabThing, scope: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {labthing.test_tokens[scope]}"}  # type: ignore[attr-defined]


def _same(fast: TestResponse, flask: TestResponse) -> None:
    assert (fast.status, fast.get_data()) == (flask.status, flask.get_data())
    assert sorted(fast.headers.items()) == sorted(flask.headers.items())


_VALUE = "/calc/properties/value"
_CASES: list[tuple[str, str, str, bytes, dict[str, str], bool]] = [
    # (what, method, path, body, headers beyond a control token, whether it skips Flask)
    ("read", "GET", _VALUE, b"", {}, True),
    ("read-only", "GET", "/calc/properties/readonly_value", b"", {}, True),
    ("computed", "GET", "/calc/properties/answer", b"", {}, True),
    ("failing getter", "GET", "/calc/properties/broken", b"", {}, True),
    ("write", "PUT", _VALUE, b"2.5", {}, True),
    ("write text", "PUT", "/calc/properties/free", b'"x"', {}, True),
    ("wrong type", "PUT", _VALUE, b'"text"', {}, True),
    ("out of range", "PUT", "/calc/properties/limited", b"11", {}, True),
    ("read-only write", "PUT", "/calc/properties/readonly_value", b"3", {}, True),
    ("computed write", "PUT", "/calc/properties/answer", b"3", {}, True),
    ("not JSON", "PUT", _VALUE, b"{nope", {}, True),
    ("NaN", "PUT", _VALUE, b"NaN", {}, True),
    ("lone surrogate", "PUT", "/calc/properties/free", b'"\\ud800"', {}, True),
    ("too deep", "PUT", "/calc/properties/free", b"[" * 200 + b"]" * 200, {}, True),
    ("not JSON type", "PUT", _VALUE, b"2.5", {"Content-Type": "text/plain"}, True),
    ("no token", "GET", _VALUE, b"", {"Authorization": ""}, True),
    ("bad token", "GET", _VALUE, b"", {"Authorization": "Bearer nope"}, True),
    ("two tokens", "GET", _VALUE, b"", {"Authorization": "Bearer a b"}, True),
    ("read token writes", "PUT", _VALUE, b"2.5", {"scope": "read"}, True),
    ("read token reads", "GET", _VALUE, b"", {"scope": "read"}, True),
    ("allowed page reads", "GET", _VALUE, b"", {"Origin": PAGE}, True),
    ("allowed page writes", "PUT", _VALUE, b"3.5", {"Origin": PAGE}, True),
    ("other page writes", "PUT", _VALUE, b"4.5", {"Origin": "https://evil.example"}, True),
    ("cross-site write", "PUT", _VALUE, b"4.5", {"Sec-Fetch-Site": "cross-site"}, True),
    ("same origin writes", "PUT", _VALUE, b"5.5", {"Origin": "http://localhost"}, True),
    ("forged Host", "GET", _VALUE, b"", {"Host": "evil.example"}, True),
    ("empty body", "PUT", _VALUE, b"", {}, False),
    ("a query", "GET", _VALUE + "?x=1", b"", {}, False),
    ("conditional", "GET", _VALUE, b"", {"If-None-Match": '"abc"'}, False),
    ("HEAD", "HEAD", _VALUE, b"", {}, False),
    ("OPTIONS", "OPTIONS", _VALUE, b"", {}, False),
    ("unknown property", "GET", "/calc/properties/nope", b"", {}, False),
    ("unknown Thing", "PUT", "/nope/properties/value", b"1", {}, False),
    ("trailing slash", "GET", _VALUE + "/", b"", {}, False),
    ("DELETE", "DELETE", _VALUE, b"", {}, False),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "skips_flask"),
    [case[1:] for case in _CASES],
    ids=[case[0] for case in _CASES],
)
def test_each_answer_is_the_apps(
    labthing: LabThing,
    method: str,
    path: str,
    body: bytes,
    headers: dict[str, str],
    skips_flask: bool,
) -> None:
    paths = Paths(labthing.create_app())
    sent = {**_bearer(labthing, headers.pop("scope", "control")), **headers}
    if body:
        sent.setdefault("Content-Type", "application/json")
    sent = {name: value for name, value in sent.items() if value}
    fast = paths.fast.open(path, method=method, data=body, headers=sent)
    assert paths.to_flask == ([] if skips_flask else [path.partition("?")[0]])
    _same(fast, paths.flask.open(path, method=method, data=body, headers=sent))


def test_a_write_is_seen_by_both_and_an_etag_matches_on_either(labthing: LabThing) -> None:
    paths = Paths(labthing.create_app())
    control = _bearer(labthing, "control")
    written = paths.fast.put(_VALUE, data=b"6.25", headers=control, content_type="application/json")
    assert (written.status_code, written.get_json()) == (200, 6.25)
    read = paths.fast.get(_VALUE, headers=control)
    assert json.loads(read.get_data()) == 6.25
    _same(read, paths.flask.get(_VALUE, headers=control))
    again = paths.fast.get(_VALUE, headers={**control, "If-None-Match": read.headers["ETag"]})
    assert again.status_code == 304


def test_hooks_added_to_the_app_see_property_requests_too(labthing: LabThing) -> None:
    app = labthing.create_app()
    seen: list[str] = []
    app.before_request(lambda: seen.append("hook") or None)  # type: ignore[func-returns-value]
    response = Client(app).get(_VALUE, headers=_bearer(labthing, "read"))
    assert (response.status_code, seen) == (200, ["hook"])


def test_an_app_given_to_init_app_keeps_flask_for_everything() -> None:
    app = Flask("own")
    labthing = make_labthing(shutdown_wait=2.0)
    labthing.init_app(app)
    with labthing:
        assert not isinstance(app.wsgi_app, PropertyFastPath)
        assert Client(app).get(_VALUE).get_json() == 1.5
