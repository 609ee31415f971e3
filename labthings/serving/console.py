"""What `labthings serve` shows on its console: log lines, and one line per request at debug.

Only the command configures logging this way; an application that serves `create_app()`
itself configures its own.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING
from urllib.parse import unquote_plus

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["AccessLog", "configure_logging"]

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_access_logger = logging.getLogger("labthings.access")
_TOKEN_PARAMETERS = frozenset({"access_token", "token"})


def configure_logging(level: int, started: threading.Event) -> None:
    """Log to stderr, a line per record with its time, level and logger name.

    The console handler shows records at `level` and above. The root logger is set to
    min(INFO, `level`), not to `level`: labthings copies INFO-and-above log records made
    inside an action into that action's task log through a handler on the root logger,
    so records at INFO must still be created even when the console shows only warnings.

    Above DEBUG, records logged before `started` is set are shown without their
    traceback, since the command reports a failed start in one line of its own.
    """
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(level)
    console.setFormatter(
        _ConsoleFormatter(tracebacks=lambda: level <= logging.DEBUG or started.is_set())
    )
    root = logging.getLogger()
    root.addHandler(console)
    root.setLevel(min(logging.INFO, level))


class _ConsoleFormatter(logging.Formatter):
    """The console's format; a record's traceback is shown only while `tracebacks()`."""

    def __init__(self, tracebacks: Callable[[], bool]) -> None:
        super().__init__(_FORMAT)
        self._tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info is None or self._tracebacks():
            return super().format(record)
        # A copy, so that other handlers still get the traceback.
        return super().format(
            logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None})
        )


class AccessLog:
    """WSGI middleware that logs one DEBUG line per request to `labthings.access`: method,
    path with query, status and duration, e.g. `GET /stage/properties/speed 200 1.3 ms`.

    An access token in the query (`access_token=`, or the web page's `token=`) is logged
    as `[hidden]`. The line is logged when the application starts its response (calls
    `start_response`), so the duration is the time to the status line, and a long-lived
    event stream is logged as it opens. The response body is handed on untouched, so
    streaming and closing behave as without the middleware.
    """

    def __init__(self, app: WSGIApplication) -> None:
        self._app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        began = time.perf_counter()

        def start_and_log(
            status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
        ) -> Callable[[bytes], object]:
            _access_logger.debug(
                "%s %s %s %.1f ms",
                environ["REQUEST_METHOD"],
                _path_and_query(environ),
                status.partition(" ")[0],
                (time.perf_counter() - began) * 1000,
            )
            return start_response(status, headers, exc_info)

        return self._app(environ, start_and_log)


def _path_and_query(environ: WSGIEnvironment) -> str:
    """The request's path and query; an access token in the query is never logged."""
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    query = "&".join(map(_hide_token, environ.get("QUERY_STRING", "").split("&")))
    return f"{path}?{query}" if query else path


def _hide_token(parameter: str) -> str:
    name, equals, _ = parameter.partition("=")
    return f"{name}=[hidden]" if equals and unquote_plus(name) in _TOKEN_PARAMETERS else parameter
