"""granian's Rust HTTP/1.1 server running a WSGI app in this process (bench/WSGI_SERVERS.md).

granian's own `Granian` server runs apps in worker processes, and its in-process
(embedded) mode takes only ASGI apps; labthings needs the Things in the process that
serves them. So this drives granian's WSGI worker directly, the way granian's own
threaded server does, through a few of its internal names (pinned in setup.cfg to the
minor versions checked): the worker accepts, parses and times out connections in Rust
(tokio), and calls the app in Python threads started on demand.

The socket is bound here, not by granian, so that a port in use is an error
(granian's sockets set SO_REUSEPORT) and port 0 reports the port it got.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from granian import _granian
from granian._futures import _new_cbscheduler
from granian.http import HTTP1Settings

from labthings.core.cpus import ThreadPinning

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

__all__ = ["Engine", "bind"]

_native: Any = _granian  # granian's compiled module; its type stubs lag behind it

_BASE_ENVIRON = {
    "GATEWAY_INTERFACE": "CGI/1.1",
    "SCRIPT_NAME": "",
    "SERVER_SOFTWARE": "labthings (granian)",
    "wsgi.errors": sys.stderr,
    "wsgi.multiprocess": False,
    "wsgi.multithread": True,
    "wsgi.run_once": False,
    "wsgi.version": (1, 0),
    # granian's wsgi.input ends at the end of the body, chunked or not, so an app may
    # read a body that has no Content-Length (werkzeug reads none without this flag).
    "wsgi.input_terminated": True,
}


def bind(host: str, port: int, backlog: int) -> socket.socket:
    """A listening TCP socket on host:port; raises OSError (with its errno) if it cannot.

    No SO_REUSEPORT: a second server on the same port must fail, not share it.
    """
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        if os.name != "nt":  # on Windows SO_REUSEADDR would let another server steal the port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit it: without it a response written in two parts
        # waits for the client's delayed ACK, 40 ms per request on a keep-alive connection.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(address)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


class Engine:
    """granian's WSGI worker serving `app` on an already listening socket.

    `threads` caps the Python threads that run the app: each request in progress, and
    each open streaming response, holds one; they start on demand and end after
    `idle_timeout` s unused. `connections` caps the connections held at once (idle,
    slow or busy); past it, new ones wait in the listen backlog. `max_header_bytes`
    bounds a request's line and headers (past it: 431) and `header_timeout` the
    seconds a client may take to send them. With `one_cpu`, the Python threads share
    one CPU (`labthings.core.cpus`): each moves there before its first request.
    """

    def __init__(
        self,
        app: WSGIApplication,
        sock: socket.socket,
        *,
        threads: int,
        connections: int,
        max_header_bytes: int,
        header_timeout: float,
        idle_timeout: int = 30,
        backlog: int = 1024,
        one_cpu: bool = True,
    ) -> None:
        self._app = app
        self.pinning = ThreadPinning(one_cpu)
        """How the Python threads are kept on one CPU (its `cpu` is None: they are not)."""
        self._socket = sock
        self.address: tuple[str, int] = sock.getsockname()[:2]
        """The host and port listened on (the real port when 0 was asked for)."""
        self._backlog = backlog
        self._signal = _native.WorkerSignal()
        self._stopped = threading.Event()
        self._signal.add_cb(self._stopped.set)  # called once every connection has closed
        self._loop: asyncio.AbstractEventLoop | None = None
        self._settings = {
            "threads": 1,  # Rust threads: the I/O is not what limits a WSGI app
            "py_threads": threads,
            "py_threads_idle_timeout": idle_timeout,
            "backpressure": connections,
            "http_mode": "1",  # HTTP/1.1 only: HTTP/2 brings its own, larger header limits
            "http1_opts": HTTP1Settings(
                header_read_timeout=round(header_timeout * 1000),
                keep_alive=True,
                max_buffer_size=max(8192, max_header_bytes),
            ),
        }

    def start(self) -> None:
        """Start accepting; returns at once (granian's threads do the work).

        granian takes its own handle on the socket; the caller still closes `sock`.
        """
        worker = _native.WSGIWorker(
            worker_id=1,
            sock=(None, _holder(self._socket, self._backlog)),
            ipc=None,
            **self._settings,
        )
        granian_log = logging.getLogger("_granian")
        if granian_log.level == logging.NOTSET:  # its worker's start and stop lines are noise
            granian_log.setLevel(logging.WARNING)
        self._loop = asyncio.new_event_loop()  # the worker wants one; WSGI never runs on it
        scheduler = _new_cbscheduler(self._loop, self._call, impl_asyncio=True)
        worker.serve_mtr(scheduler, self._loop, self._signal)

    def stop(self) -> None:
        """Stop accepting and close each connection once its response is done.

        Starts no thread, so a signal handler may call it.
        """
        self._signal.set()

    def wait(self, timeout: float) -> bool:
        """Wait until every connection has closed after `stop()`; False on timeout."""
        stopped = self._stopped.wait(timeout)
        if self._loop is not None:
            self._loop.close()
        return stopped

    def _call(self, protocol: Any, scope: dict[str, Any]) -> int:
        """granian's callback, in one of its Python threads: run the app for one request."""
        self.pinning.pin()
        status: list[int] = [500]
        headers: list[tuple[str, str]] = []

        def start_response(
            line: str, response_headers: list[tuple[str, str]], exc_info: object = None
        ) -> Callable[[bytes], object]:
            status[0] = int(line.split(" ", 1)[0])
            headers[:] = response_headers
            return _no_write

        body: Iterable[bytes] = self._app(_BASE_ENVIRON | scope, start_response)
        if isinstance(body, list):
            protocol.response_bytes(status[0], headers, b"".join(body))
        else:
            protocol.response_iter(status[0], headers, _Chunks(body))
        return status[0]


def _no_write(data: bytes) -> object:
    raise NotImplementedError("this server takes the response body from the returned iterable")


class _Chunks:
    """A WSGI body as granian iterates it: `__next__` for each chunk, then `close()`."""

    __slots__ = ("__next__", "_body")

    def __init__(self, body: Iterable[bytes]) -> None:
        self._body = body
        self.__next__ = iter(body).__next__

    def close(self) -> None:
        close = getattr(self._body, "close", None)
        if close is not None:
            close()


def _holder(sock: socket.socket, backlog: int) -> Any:
    """granian's handle on a listening socket; granian closes what it is given."""
    if sys.platform == "win32":
        return _native.SocketHolder(sock.detach())
    descriptor = os.dup(sock.fileno())
    if sys.platform.startswith(("linux", "freebsd")):
        return _native.SocketHolder(descriptor, False, backlog)
    return _native.SocketHolder(descriptor, False)
