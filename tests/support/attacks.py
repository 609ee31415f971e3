"""Misbehaving clients for a server on a loopback port, for the tests and bench/.

Every loop here is bounded by a count or a deadline, every socket has a timeout, and
each holder of sockets closes them all in `close()`.
"""

from __future__ import annotations

import http.client
import select
import socket
import statistics
import time
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "Silent",
    "SlowBody",
    "Slowloris",
    "Streams",
    "get_latency",
    "keep_busy",
    "latencies_while",
    "proc_status",
    "send_body",
    "summary",
]

HOST = "127.0.0.1"


def _connect(port: int, timeout: float = 5) -> socket.socket | None:
    try:
        return socket.create_connection((HOST, port), timeout=timeout)
    except OSError:
        return None


class _Sockets:
    """Up to `count` client sockets on `port`, each sending `OPENING` once connected;
    `tick()` reopens those the server closed."""

    OPENING = b""

    def __init__(self, port: int, count: int) -> None:
        self.port = port
        self.sockets: list[socket.socket | None] = [self._open() for _ in range(count)]
        self.reopened = 0

    def _open(self) -> socket.socket | None:
        sock = _connect(self.port)
        if sock is not None and self.OPENING:
            try:
                sock.sendall(self.OPENING)
            except OSError:
                sock.close()
                return None
        return sock

    def _closed_by_server(self, sock: socket.socket) -> bool:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        try:
            return not sock.recv(65536)  # EOF; a response (e.g. 408) also means it is done
        except OSError:
            return True

    def tick(self) -> None:
        """Reopen the sockets the server closed (or that could not connect)."""
        for index, sock in enumerate(self.sockets):
            if sock is None or self._closed_by_server(sock):
                if sock is not None:
                    sock.close()
                self.sockets[index] = self._open()
                self.reopened += 1

    @property
    def open(self) -> int:
        return sum(sock is not None for sock in self.sockets)

    def close(self) -> None:
        for sock in self.sockets:
            if sock is not None:
                sock.close()
        self.sockets = []


class SlowBody(_Sockets):
    """Connections that send a whole request head, then 5 of the 100 bytes of body
    they announced, and nothing more (reopened when the server closes or answers them)."""

    OPENING = (
        b"PUT /calc/properties/free HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"abc'
    )


class Silent(_Sockets):
    """Connections that send nothing at all (reopened when the server closes them)."""


class Slowloris(_Sockets):
    """Connections that send a request head one byte at a time, never finishing it.

    `tick()` sends the next byte on every socket once `interval` s have passed since
    the last one, and reopens the sockets the server closed.
    """

    OPENING = b"GET /calc/properties/value HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "

    def __init__(self, port: int, count: int, interval: float = 3.0) -> None:
        self.interval = interval
        self._last = time.monotonic()
        super().__init__(port, count)

    def tick(self) -> None:
        super().tick()
        if time.monotonic() - self._last < self.interval:
            return
        self._last = time.monotonic()
        for sock in self.sockets:
            if sock is not None:
                try:
                    sock.send(b"a")
                except OSError:
                    pass  # reopened at the next tick


class Streams(_Sockets):
    """Open event streams (`GET path`, response head read, body left unread).

    Opening them all takes at most `seconds`: a stream whose head has not come by then
    counts as failed (status 0), as when the server has no thread left for it.
    """

    def __init__(self, port: int, count: int, path: str = "/events", seconds: float = 30) -> None:
        self.path = path
        self.statuses: list[int] = []
        self._deadline = time.monotonic() + seconds
        super().__init__(port, count)

    def _open(self) -> socket.socket | None:
        sock = _connect(self.port, timeout=5)
        if sock is None:
            return None
        try:
            sock.sendall(f"GET {self.path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
            sock.settimeout(max(0.01, min(10.0, self._deadline - time.monotonic())))
            head = sock.recv(4096)
            self.statuses.append(int(head.split(b" ", 2)[1]) if head else 0)
        except (OSError, ValueError, IndexError):
            self.statuses.append(0)
        return sock

    def tick(self) -> None:
        """Streams stay open: read what they sent so the server's writes never block."""
        for sock in self.sockets:
            if sock is not None:
                try:
                    while select.select([sock], [], [], 0)[0] and sock.recv(65536):
                        pass
                except OSError:
                    pass


def keep_busy(port: int) -> tuple[Streams, Slowloris]:
    """Make the test lab busy, as a shutdown finds it: a 30 s action running
    (`slow/sleep`), 5 open event streams and 20 slowloris sockets (the caller closes them)."""
    connection = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        connection.request(
            "POST",
            "/slow/actions/sleep",
            body=b'{"seconds": 30}',
            headers={"Content-Type": "application/json", "Prefer": "respond-async"},
        )
        assert connection.getresponse().status == 201
    finally:
        connection.close()
    return Streams(port, 5), Slowloris(port, 20)


def get_latency(port: int, path: str = "/calc/properties/value", timeout: float = 5) -> float:
    """Seconds for a GET on a new connection; inf if it failed or was not a 200."""
    started = time.monotonic()
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        ok = response.status == 200
    except OSError:
        ok = False
    finally:
        connection.close()
    return time.monotonic() - started if ok else float("inf")


def latencies_while(
    tick: Callable[[], None],
    port: int,
    seconds: float,
    gap: float = 0.2,
    path: str = "/calc/properties/value",
) -> list[float]:
    """GET latencies (s) of `path` measured every `gap` s for `seconds`, calling `tick()`
    between."""
    found: list[float] = []
    deadline = time.monotonic() + seconds
    for _ in range(int(seconds / gap) + 1):
        if time.monotonic() >= deadline:
            break
        tick()
        found.append(get_latency(port, path))
        time.sleep(gap)
    return found


def summary(latencies: list[float]) -> tuple[float, float]:
    """(median, max) in milliseconds."""
    return statistics.median(latencies) * 1000, max(latencies) * 1000


def send_body(
    port: int, method: str, path: str, size: int, *, chunked: bool, timeout: float = 30
) -> tuple[int, int]:
    """Send a request with a `size`-byte body; (status or 0, body bytes sent before the
    server answered or closed). Stops sending as soon as a response arrives."""
    sock = _connect(port, timeout=timeout)
    if sock is None:
        return 0, 0
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
        f"{framing}\r\n\r\n"
    )
    piece = b"x" * 65536
    if chunked:
        piece = b"%x\r\n%s\r\n" % (len(piece), piece)
    sent, reply = 0, b""
    deadline = time.monotonic() + timeout
    with sock:
        try:
            sock.sendall(head.encode())
            while sent < size and time.monotonic() < deadline:
                if select.select([sock], [], [], 0)[0]:
                    break
                sock.sendall(piece)
                sent += 65536
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            reply = sock.recv(64)
        except OSError:
            try:
                reply = sock.recv(64)
            except OSError:
                pass
    try:
        return int(reply.split(b" ", 2)[1]), sent
    except (ValueError, IndexError):
        return 0, sent


def proc_status(pid: int) -> dict[str, int]:
    """From /proc/PID/status: VmRSS and VmHWM (KiB, peak) and Threads (Linux only)."""
    found: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM", "Threads"):
            found[name] = int(value.split()[0])
    return found
