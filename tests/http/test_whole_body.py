"""The app hands a body already in memory to the server as one list, and streams as before."""

from __future__ import annotations

from typing import Any

from flask import Flask
from wsgi_calls import wsgi_environ

from labthings import LabThing


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
