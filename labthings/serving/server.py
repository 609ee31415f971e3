"""Run a LabThing on granian's Rust HTTP server (in this process), with graceful shutdown.

granian was chosen by measurement (see bench/WSGI_SERVERS.md): connections are accepted,
parsed and timed out in Rust, so idle, slow and silent clients cost no Python thread;
the app runs in Python threads started on demand; it keeps connections alive, streams
responses chunk by chunk and runs on Windows and Linux, two to three times as fast as
cheroot on labthings' app.

The socket is bound before any Thing is opened, so a port in use costs no instrument
time. SIGINT and SIGTERM (and Ctrl-Break on Windows) stop the server gracefully, from
the signal handler itself (no thread is started): new tasks are refused and running ones
are asked to cancel, event streams end, the server stops accepting and closes each
connection once its response is done (bounded), then the LabThing waits for tasks
(bounded) and closes every Thing.

Limits enforced at the edge: request line and headers over `MAX_HEADER_BYTES` get 431
from granian, which also closes connections that take over `HEADER_TIMEOUT` s to send
them; a body over the `max_body_bytes` setting gets 413 from `BodyLimit` without being
read, and past `receiving_cap` bodies being received at once a request with a body gets
503 (granian cannot time out a slow body, so such clients are bounded instead).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType
from typing import TYPE_CHECKING

from labthings.discovery.advertise import AdvertiseError, Advertiser
from labthings.http.labthing import LabThing
from labthings.serving.console import AccessLog
from labthings.serving.defaults import DEFAULT_THREADS
from labthings.serving.engine import Engine, bind
from labthings.serving.limits import BodyLimit

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

__all__ = ["DEFAULT_THREADS", "ListenError", "receiving_cap", "serve"]

MAX_CONNECTIONS = 4096
"""Connections held at once, idle or not (an idle one costs no thread); past it, new
ones wait in the listen backlog."""
MAX_HEADER_BYTES = 64 * 1024
"""The request line and headers together; past it, 431. granian checks between reads,
so a head that arrives in one burst may reach about 112 KiB before it is refused."""
HEADER_TIMEOUT = 10.0
"""Seconds a client may take to send the request line and headers; a connection that
sends nothing for that long is closed too."""
LISTEN_BACKLOG = 1024
DRAIN_WAIT = 0.5
"""Seconds a shutdown waits for connections to close once streams have ended and tasks
are cancelled; what is left then (a client still sending its headers) is dropped."""
_STOP_POLL = 0.5  # seconds; on Windows a signal is handled only when a wait returns
_logger = logging.getLogger(__name__)


def receiving_cap(threads: int) -> int:
    """How many requests may be receiving their bodies at once (`BodyLimit`): a quarter
    of the threads, at least 4, so that clients sending bodies slowly, or never
    finishing them, leave the other threads to everyone else."""
    return max(4, threads // 4)


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
    mdns: bool = False,
    one_cpu: bool = True,
) -> None:
    """Serve until SIGINT/SIGTERM: listen, open the Things, serve, then close them.

    Raises `ListenError`, before opening any Thing, if it cannot listen on host:port.
    `threads` caps the threads running the app (see `DEFAULT_THREADS`). `access_log`
    logs a DEBUG line per request (`AccessLog`). `ready` is set once the socket is
    listening and the Things are open (useful when serving from a thread; stopping then
    still takes a signal, which only the main thread receives). `mdns` advertises the
    server over DNS-SD while it serves (`labthings.discovery.advertise`); if that fails,
    it says why and serves anyway. `one_cpu` keeps the threads that run Python for
    requests and tasks on one CPU (`labthings.core.cpus`); False spreads them over all.
    """
    app: WSGIApplication = BodyLimit(
        labthing.create_app(), labthing.settings.max_body_bytes, receiving_cap(threads)
    )
    streams = getattr(labthing.settings, "max_streams", 0)
    if threads <= streams:
        _logger.warning(
            "%d threads, %d streams allowed: with every stream open, requests will wait",
            threads,
            streams,
        )
    _raise_open_files_limit(MAX_CONNECTIONS + 1024)
    try:
        sock = bind(host, port, LISTEN_BACKLOG)
    except OSError as error:
        raise ListenError(host, port, error) from error
    with sock:
        engine = Engine(
            AccessLog(app) if access_log else app,
            sock,
            threads=threads,
            connections=MAX_CONNECTIONS,
            max_header_bytes=MAX_HEADER_BYTES,
            header_timeout=HEADER_TIMEOUT,
            backlog=LISTEN_BACKLOG,
            one_cpu=one_cpu,
        )
        shutdown = _Shutdown(labthing, engine)
        previous = _install_handlers(shutdown.on_signal)
        try:
            with labthing:
                engine.start()
                sock.close()  # granian holds its own handle; once it stops, the port is free
                _log_cpus(engine)
                _logger.info(
                    "serving %r on http://%s:%s/ (docs at /docs/); Ctrl-C stops",
                    labthing.title,
                    *_url_address(engine.address),
                )
                if ready is not None:
                    ready.set()
                advertiser = _advertise(labthing, host, engine.address[1]) if mdns else None
                try:
                    shutdown.wait()
                finally:
                    if advertiser is not None:
                        advertiser.close()
        finally:
            shutdown()
            _restore_handlers(previous)
            engine.stop()  # a start that failed half-way leaves nothing serving
    _logger.info("stopped")


def _log_cpus(engine: Engine) -> None:
    if engine.pinning.cpu is not None:
        _logger.info(
            "request and task threads share CPU %d (--all-cpus spreads them)",
            engine.pinning.cpu,
        )


def _advertise(labthing: LabThing, host: str, port: int) -> Advertiser | None:
    """The server advertised over DNS-SD, or None (and a warning saying why)."""
    advertiser = Advertiser(
        title=labthing.title, description=labthing.description, host=host, port=port
    )
    try:
        name = advertiser.start()
    except AdvertiseError as error:
        _logger.warning("not advertised over mDNS: %s", error)
        return None
    where = "on the network"
    if advertiser.local_only:
        where = "on this PC only (it listens on loopback)"
    _logger.info("advertised over mDNS as %r (_wot._tcp, _labthing._tcp) %s", name, where)
    return advertiser


class _Shutdown:
    """Stops serving once, in two steps that start no thread (so they work even when no
    thread can be started): the signal handler refuses new tasks and cancels every one;
    then `wait`, in the serving thread, waits for the tasks (up to `shutdown_wait`), ends
    the event streams once watchers have every final record, and stops the engine. The
    LabThing then closes every Thing: in all, `shutdown_wait` and `DRAIN_WAIT` at most
    before the Things' `__exit__`.
    """

    def __init__(self, labthing: LabThing, engine: Engine) -> None:
        self._labthing = labthing
        self._engine = engine
        self._requested = threading.Event()

    def __call__(self) -> None:
        if self._requested.is_set():
            return
        self._requested.set()
        # Cancel now (pending ones end at once); running ones get `shutdown_wait` from
        # now to end, which `_stop_engine` then waits for.
        self._labthing.runner.cancel_all(self._labthing.settings.shutdown_wait)

    def _stop_engine(self) -> None:
        self._labthing.runner.shutdown(self._labthing.settings.shutdown_wait)
        self._labthing.hub.close()  # event streams end, so their connections can close
        self._engine.stop()

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        if not self._requested.is_set():
            _logger.info("stopping: cancelling running tasks and closing connections")
        self()

    def wait(self) -> None:
        """Return once a stop was asked for, the tasks ended (or the deadline passed)
        and the connections closed (bounded)."""
        while not self._requested.wait(_STOP_POLL):
            pass
        self._stop_engine()
        if not self._engine.wait(DRAIN_WAIT):
            _logger.info("dropping the connections still open")


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


def _raise_open_files_limit(wanted: int) -> None:
    """Raise this process's soft limit on open files towards `wanted` (POSIX only): a
    common default of 1024 would cap the connections held long before MAX_CONNECTIONS."""
    if sys.platform == "win32":  # sockets are not counted against such a limit there
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):  # e.g. above the system's own cap: serve with less
            _logger.debug("could not raise the open files limit to %d", target)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _url_address(address: tuple[str, int]) -> tuple[str, int]:
    return _url_host(address[0]), address[1]
