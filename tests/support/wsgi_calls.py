"""Calling a WSGI app in process, without a server: the environ of a plain request."""

from __future__ import annotations

import io
import sys
from collections.abc import Mapping
from typing import Any

__all__ = ["wsgi_environ"]


def wsgi_environ(
    method: str, path: str, headers: Mapping[str, str] | None = None, body: bytes = b""
) -> dict[str, Any]:
    """The environ of `method path` on 127.0.0.1:8000; `headers` as WSGI keys
    (`HTTP_ACCEPT`, ...)."""
    return {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
        "REMOTE_ADDR": "127.0.0.1",
        **(headers or {}),
    }
