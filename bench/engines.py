"""Each candidate HTTP engine serving a LabThing the way `labthings serve` must.

`SERVE[name](labthing, port, threads)` listens on 127.0.0.1:port, opens the Things,
serves until SIGTERM/SIGINT, then stops as labthings needs: refuse and cancel tasks
(`runner.shutdown(wait=0)`), end the event streams (`hub.close()`), stop the engine,
and close the Things (`with labthing:`, which calls every Thing's `__exit__`).
Each engine is given the header and body limits it offers.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

from labthings import LabThing

HOST = "127.0.0.1"
MAX_HEADER_BYTES = 64 * 1024


def _on_stop_signals(handler: Callable[[], None]) -> None:
    for name in ("SIGTERM", "SIGINT", "SIGBREAK"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), lambda signum, frame: handler())


def serve_cheroot(labthing: LabThing, port: int, threads: int) -> None:
    """cheroot as labthings ran it before (plus its header and body limits)."""
    from cheroot import wsgi

    server = wsgi.Server(
        (HOST, port),
        labthing.create_app(),
        numthreads=threads,
        request_queue_size=256,
        shutdown_timeout=5,
    )
    server.keep_alive_conn_limit = 4096
    server.max_request_header_size = MAX_HEADER_BYTES
    server.max_request_body_size = labthing.settings.max_body_bytes

    def stop() -> None:
        labthing.runner.shutdown(wait=0)
        labthing.hub.close()
        server.stop()  # joins the workers: it cannot run inside the signal handler

    _on_stop_signals(lambda: threading.Thread(target=stop, daemon=True).start())
    server.prepare()
    with labthing:
        server.serve()


def serve_waitress(labthing: LabThing, port: int, threads: int) -> None:
    """waitress, with poll() (select() stops at descriptor 1024) and room for the attacks."""
    from waitress import create_server

    server: Any = create_server(
        labthing.create_app(),
        host=HOST,
        port=port,
        threads=threads,
        connection_limit=4096,
        asyncore_use_poll=True,
        max_request_header_size=MAX_HEADER_BYTES,
        max_request_body_size=labthing.settings.max_body_bytes,
    )

    def stop() -> None:
        labthing.runner.shutdown(wait=0)
        labthing.hub.close()
        raise KeyboardInterrupt  # waitress's only way out of its loop: run() catches it

    _on_stop_signals(stop)
    with labthing:
        server.run()


def serve_hypercorn(labthing: LabThing, port: int, threads: int) -> None:
    """hypercorn's embedded asyncio server in WSGI mode, its executor sized to `threads`."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"{HOST}:{port}"]
    config.backlog = 1024
    config.h11_max_incomplete_size = MAX_HEADER_BYTES
    config.wsgi_max_body_size = labthing.settings.max_body_bytes
    config.read_timeout = 10
    loop = asyncio.new_event_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=threads))  # runs the app
    stopping = asyncio.Event()

    def stop() -> None:
        labthing.runner.shutdown(wait=0)
        labthing.hub.close()
        loop.call_soon_threadsafe(stopping.set)

    _on_stop_signals(stop)
    with labthing:
        app: Any = labthing.create_app()
        loop.run_until_complete(serve(app, config, shutdown_trigger=stopping.wait, mode="wsgi"))
    loop.close()


def serve_granian(labthing: LabThing, port: int, threads: int) -> None:
    """granian, as `labthings serve` now runs it (labthings/serving/server.py)."""
    from labthings.serving.server import serve

    serve(labthing, HOST, port, threads=threads)


SERVE: dict[str, Callable[[LabThing, int, int], None]] = {
    "cheroot": serve_cheroot,
    "waitress": serve_waitress,
    "hypercorn": serve_hypercorn,
    "granian": serve_granian,
}
