"""The HTTP engine under attack: a real `labthings serve` on a loopback port keeps answering.

Slow, silent and oversized clients (tests/support/attacks.py), each followed by proof
that a property GET from another client still answers within a second.
"""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from attacks import (
    Silent,
    SlowBody,
    Slowloris,
    keep_busy,
    latencies_while,
    proc_status,
    send_body,
    summary,
)
from served import SUPPORT, ServedLab

from labthings.serving.engine import bind
from labthings.serving.server import receiving_cap

TARGET = f"{SUPPORT / 'lab_for_tests.py'}:make_labthing"
PROPERTY = "/calc/properties/value"
BODY = 300 * 1024 * 1024


@pytest.fixture(scope="module")
def lab() -> Iterator[ServedLab]:
    served = ServedLab(TARGET)
    yield served
    served.stop()


def port_of(lab: ServedLab) -> int:
    port = urlsplit(lab.url).port
    assert port is not None
    return port


def assert_answers_within_a_second(lab: ServedLab, attack: Slowloris | Silent) -> None:
    port = port_of(lab)
    try:
        attack.tick()
        assert attack.open == 300
        latencies = latencies_while(attack.tick, port, seconds=4)
    finally:
        attack.close()
    median, worst = summary(latencies)
    assert worst < 1000, f"GET took up to {worst:.0f} ms (median {median:.0f} ms)"


def test_300_slowloris_sockets_do_not_stop_a_property_get(lab: ServedLab) -> None:
    assert_answers_within_a_second(lab, Slowloris(port_of(lab), 300, interval=1.0))


def test_300_silent_sockets_do_not_stop_a_property_get(lab: ServedLab) -> None:
    assert_answers_within_a_second(lab, Silent(port_of(lab), 300))


def request_with_header(lab: ServedLab, size: int) -> bytes:
    """The status line answering a GET whose one extra header holds `size` bytes."""
    head = f"GET {PROPERTY} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {'a' * size}\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port_of(lab)), timeout=5) as sock:
        try:
            sock.sendall(head.encode())
        except OSError:
            pass  # the server may answer and close before it has read everything
        return sock.recv(64).split(b"\r\n")[0]


def test_headers_over_the_limit_get_431_and_the_server_goes_on(lab: ServedLab) -> None:
    assert request_with_header(lab, 32 * 1024) == b"HTTP/1.1 200 OK"
    assert request_with_header(lab, 256 * 1024) == b"HTTP/1.1 431 Request Header Fields Too Large"
    assert requests.get(f"{lab.url}{PROPERTY[1:]}", timeout=5).json() == 1.5


def test_bodies_that_never_finish_do_not_stop_reads_and_later_writes_work_again() -> None:
    threads = 40
    lab = ServedLab(TARGET, extra=["--threads", str(threads)])
    attack = SlowBody(port_of(lab), threads + 10)  # without a cap, every thread is held
    try:
        attack.tick()
        latencies = latencies_while(attack.tick, port_of(lab), seconds=3)
        median, worst = summary(latencies)
        assert worst < 1000, f"GET took up to {worst:.0f} ms (median {median:.0f} ms)"
        refused = requests.put(f"{lab.url}calc/properties/free", json="x", timeout=5)
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "5"
        assert refused.headers["Content-Type"] == "application/problem+json"
        assert f"receiving {receiving_cap(threads)} request bodies" in refused.json()["detail"]
    finally:
        attack.close()
        deadline = time.monotonic() + 10
        while True:  # the slots come free as the server sees the clients gone
            status = requests.put(f"{lab.url}calc/properties/free", json="y", timeout=5)
            if status.status_code != 503 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        lab.stop()
    assert status.status_code == 200


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"GET /calc/properties/value HTTP/1.1\r\n\r\n", b"400"),
        (
            b"GET /calc/properties/value HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: x.example\r\n\r\n",
            b"400",
        ),
        (b"GET /calc/properties/value HTTP/1.0\r\n\r\n", b"200"),
    ],
    ids=["no host", "two hosts", "http/1.0 without host"],
)
def test_a_request_without_one_host_is_400_as_rfc_9112_says(
    lab: ServedLab, head: bytes, status: bytes
) -> None:
    with socket.create_connection(("127.0.0.1", port_of(lab)), timeout=5) as sock:
        sock.sendall(head)
        reply = sock.recv(4096)
    assert reply.split(b" ")[1] == status, reply[:300]


def test_a_chunked_body_with_broken_framing_is_400_and_starts_nothing(lab: ServedLab) -> None:
    before = requests.get(f"{lab.url}calc/actions/add", timeout=5).json()
    head = "POST /calc/actions/add HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    head += "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port_of(lab)), timeout=5) as sock:
        sock.sendall(head.encode() + b'zz\r\n{"a": 1, "b": 2}\r\n0\r\n\r\n')
        reply = sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 400"), reply[:200]
    assert b"chunk" in reply
    assert requests.get(f"{lab.url}calc/actions/add", timeout=5).json() == before


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("method, path", [("GET", PROPERTY), ("POST", "/calc/actions/add")])
def test_a_body_over_max_body_bytes_gets_413_without_being_read(
    lab: ServedLab, method: str, path: str, chunked: bool
) -> None:
    before = proc_status(lab.process.pid)["VmRSS"]
    status, sent = send_body(port_of(lab), method, path, BODY, chunked=chunked)
    after = proc_status(lab.process.pid)["VmRSS"]
    assert status == 413
    assert sent < 32 * 1024 * 1024  # refused long before the 300 MB were sent
    assert after - before < 32 * 1024, f"RSS grew from {before} to {after} KiB"
    assert requests.get(f"{lab.url}{PROPERTY[1:]}", timeout=5).json() == 1.5


def test_the_413_is_a_problem(lab: ServedLab) -> None:
    response = requests.put(
        f"{lab.url}calc/properties/free",
        data=b'"' + b"a" * (1024 * 1024) + b'"',
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert response.status_code == 413
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "about:blank" and problem["title"] == HTTPStatus(413).phrase
    assert problem["status"] == 413 and "1048576" in problem["detail"]


def test_sigterm_stops_a_busy_server_and_closes_every_thing(tmp_path: Path) -> None:
    record = tmp_path / "record.txt"
    lab = ServedLab(TARGET, env={"LABTHINGS_TEST_RECORD": str(record)})
    try:
        streams, slowloris = keep_busy(port_of(lab))
    except BaseException:
        lab.stop(signal.SIGKILL)
        raise
    try:
        assert streams.statuses == [200] * 5
        started = time.monotonic()
        code = lab.stop(signal.SIGTERM)
        took = time.monotonic() - started
    finally:
        streams.close()
        slowloris.close()
        lab.stop(signal.SIGKILL)
    assert code == 0, lab.output
    assert took < 10, lab.output
    assert record.read_text() == "enter\nexit\n"


def test_connections_are_not_delayed_by_nagle() -> None:
    # Accepted connections inherit TCP_NODELAY from the listening socket; without it a
    # keep-alive client that does not set it itself (wrk, curl, browsers) waited 40 ms
    # for each response's second segment (its delayed ACK): 36 requests/s on one
    # connection instead of about 3,000.
    listening = bind("127.0.0.1", 0, 8)
    try:
        client = socket.create_connection(listening.getsockname()[:2], timeout=5)
        accepted, _ = listening.accept()
        try:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        finally:
            accepted.close()
            client.close()
    finally:
        listening.close()
