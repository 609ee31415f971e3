"""Run a LabThing on cheroot, a threaded production WSGI server, with graceful shutdown.

cheroot was chosen by measurement (see bench/WSGI_SERVERS.md): it keeps connections
alive, streams responses chunk by chunk, is pure Python and runs on Windows and Linux.

SIGINT and SIGTERM (and Ctrl-Break on Windows) stop the server gracefully: new tasks
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

__all__ = ["DEFAULT_THREADS", "serve"]

DEFAULT_THREADS = 256
"""Worker threads: each in-flight request (and each open stream) holds one. 256 lets 200
clients each wait up to 1 s on a POST in one wave (bench/compare.py, W5)."""
LISTEN_BACKLOG = 256
KEEP_ALIVE_CONNECTIONS = 256
_logger = logging.getLogger(__name__)


def serve(
    labthing: LabThing,
    host: str,
    port: int,
    *,
    threads: int = DEFAULT_THREADS,
    ready: threading.Event | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM; opens the Things first and closes them at the end.

    `ready` is set once the socket is listening (useful when serving from a thread).
    """
    app = labthing.create_app()
    server = wsgi.Server(
        (host, port),
        app,
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
        _logger.info("stopping: cancelling running tasks and closing connections")
        labthing.runner.shutdown(wait=0)
        labthing.hub.close()  # event streams end, so their worker threads are free
        server.stop()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=stop, name="labthings-stop", daemon=True).start()

    previous = _install_handlers(on_signal)
    try:
        with labthing:
            server.prepare()
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
