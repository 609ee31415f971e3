"""The app hands a body already in memory to the server as one list, and streams as before."""

from __future__ import annotations

import io
import sys
from typing import Any

from flask import Flask

from labthings import LabThing


def _environ(path: str) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_ACCEPT": "application/json",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
        "REMOTE_ADDR": "127.0.0.1",
    }


def _call(app: Flask, path: str) -> tuple[str, Any]:
    started: list[str] = []
    body = app(_environ(path), lambda status, headers, exc_info=None: started.append(status))
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
