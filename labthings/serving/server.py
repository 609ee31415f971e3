"""Run a LabThing on cheroot, a threaded production WSGI server, with graceful shutdown.

cheroot was chosen by measurement (see bench/WSGI_SERVERS.md): it keeps connections
alive, streams responses chunk by chunk, is pure Python and runs on Windows and Linux.

The socket is bound before any Thing is opened, so a port in use costs no instrument
time. SIGINT and SIGTERM (and Ctrl-Break on Windows) stop the server gracefully: new tasks
are refused and running ones are asked to cancel, the server stops accepting and
finishes in-flight requests (bounded), then the LabThing waits for tasks (bounded) and
closes every Thing.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from cheroot import wsgi

from labthings.http.labthing import LabThing
from labthings.serving.console import AccessLog

__all__ = ["DEFAULT_THREADS", "ListenError", "serve"]

DEFAULT_THREADS = 256
"""Worker threads: each in-flight request (and each open stream) holds one. 256 lets 200
clients each wait up to 1 s on a POST in one wave (bench/compare.py, W5)."""
LISTEN_BACKLOG = 256
KEEP_ALIVE_CONNECTIONS = 256
_logger = logging.getLogger(__name__)


class ListenError(Exception):
    """The server could not listen on `host`:`port`; `reason` is the socket error (its
    `errno` says why, e.g. `errno.EADDRINUSE` when another program has the port)."""

    def __init__(self, host: str, port: int, reason: OSError) -> None:
        super().__init__(f"cannot listen on {_url_host(host)}:{port}: {reason.strerror or reason}")
        self.host = host
        self.port = port
        self.reason = reason


def serve(
    labthing: LabThing,
    host: str,
    port: int,
    *,
    threads: int = DEFAULT_THREADS,
    access_log: bool = False,
    ready: threading.Event | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM: listen, open the Things, serve, then close them.

    Raises `ListenError`, before opening any Thing, if it cannot listen on host:port.
    `access_log` wraps the app in `AccessLog` (a DEBUG line per request). `ready` is set
    once the socket is listening and the Things are open (useful when serving from a
    thread).
    """
    app = labthing.create_app()
    server = _Server(
        (host, port),
        AccessLog(app) if access_log else app,
        numthreads=threads,
        server_name="labthings",
        request_queue_size=LISTEN_BACKLOG,  # cheroot's default of 5 resets bursts of clients
        shutdown_timeout=max(1, round(labthing.settings.shutdown_wait)),
    )
    # cheroot's default closes idle keep-alive connections once more than 10 are open.
    server.keep_alive_conn_limit = KEEP_ALIVE_CONNECTIONS
    stopping = threading.Event()

    def stop() -> None:
        if stopping.is_set():
            return
        stopping.set()
        labthing.runner.shutdown(wait=0)
        labthing.hub.close()  # event streams end, so their worker threads are free
        server.stop()

    def stop_on_signal() -> None:
        if not stopping.is_set():
            _logger.info("stopping: cancelling running tasks and closing connections")
        stop()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=stop_on_signal, name="labthings-stop", daemon=True).start()

    previous = _install_handlers(on_signal)
    try:
        try:
            server.prepare()
        except OSError as error:  # cheroot's own error has lost the errno; the bind's has it
            raise ListenError(host, port, server.bind_error or error) from error
        with labthing:
            bound_host, bound_port = server.bind_addr[:2]
            _logger.info(
                "serving %r on http://%s:%s/ (docs at /docs/); Ctrl-C stops",
                labthing.title,
                _url_host(bound_host),
                bound_port,
            )
            if ready is not None:
                ready.set()
            server.serve()
    finally:
        stop()
        _restore_handlers(previous)
    _logger.info("stopped")


class _Server(wsgi.Server):
    """cheroot's WSGI server, keeping the error of its last failed bind in `bind_error`."""

    bind_error: OSError | None = None

    def bind(self, family: int, socket_type: int, proto: int = 0) -> object:
        try:
            return super().bind(family, socket_type, proto)
        except OSError as error:
            self.bind_error = error
            raise


def _install_handlers(
    handler: signal.Handlers | object,
) -> dict[int, object]:
    """Route the stop signals to `handler`; returns the previous handlers."""
    previous: dict[int, object] = {}
    if threading.current_thread() is not threading.main_thread():
        return previous  # signals can only be handled in the main thread
    for name in ("SIGINT", "SIGTERM", "SIGBREAK"):
        number = getattr(signal, name, None)
        if number is not None:
            previous[number] = signal.signal(number, handler)  # type: ignore[arg-type]
    return previous


def _restore_handlers(previous: dict[int, object]) -> None:
    for number, handler in previous.items():
        signal.signal(number, handler)  # type: ignore[arg-type]


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
