"""The app hands a body already in memory to the server as one list, and streams as
before; its headers are werkzeug's."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from werkzeug.urls import iri_to_uri
from wsgi_calls import wsgi_environ

from labthings import LabThing
from labthings.http.responses import WholeBodyResponse


def _call(app: Flask, path: str) -> tuple[str, Any]:
    started: list[str] = []
    environ = wsgi_environ("GET", path, {"HTTP_ACCEPT": "application/json"})
    body = app(environ, lambda status, headers, exc_info=None: started.append(status))
    return started[0], body


def test_a_json_reply_is_one_list_item_and_a_stream_is_an_iterator(labthing: LabThing) -> None:
    app = labthing.create_app()
    status, body = _call(app, "/")
    assert status == "200 OK"
    assert isinstance(body, list) and len(body) == 1 and body[0].startswith(b"{")
    status, stream = _call(app, "/events")
    assert status == "200 OK"
    assert not isinstance(stream, list)  # streamed: never read whole
    stream.close()
    status, missing = _call(app, "/no/such/thing")
    assert status.startswith("404") and isinstance(missing, list)


@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.1:8000/actions/9dc96ecc-cd9e-434e-8773-72fd0b5d5fd9",
        "https://lab-pc.example:443/stage/actions/move",
        "http://LAB-PC:8000/actions/x",  # upper case: iri_to_uri lowers it
        "http://lab:08000/actions/x",  # a leading zero: it drops it
        "http://[::1]:8000/actions/x",
        "http://lab/a b/ü?q=1#f",
        "http://user@lab/x",
        "/actions/x",
    ],
)
def test_a_location_header_is_what_werkzeug_would_send(location: str) -> None:
    environ = wsgi_environ("POST", "/stage/actions/move", {})
    for status in (201, 200, 303):
        response = WholeBodyResponse(status=status, headers={"Location": location})
        assert response.get_wsgi_headers(environ)["Location"] == iri_to_uri(location)
