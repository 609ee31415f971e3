"""A served lab fed what a hostile or clumsy client sends: lone surrogates, NaN, deep
nesting. Each is refused at the edge, and afterwards the server still answers and the
web page's event stream still delivers: nothing stored was poisoned."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from served import SUPPORT, ServedLab
from sse import collect

TARGET = f"{SUPPORT / 'lab_for_tests.py'}:make_labthing"
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def lab() -> Iterator[ServedLab]:
    served = ServedLab(TARGET)
    yield served
    served.stop()


ATTACKS = [
    ("PUT", "calc/properties/free", b'"\\ud800"', 422),
    ("POST", "calc/actions/fail", b'{"message": "x\\udfff"}', 422),
    ("POST", "calc/actions/echo", b'{"value": {"\\udc00": 1}}', 422),
    ("POST", "calc/actions/echo", b'{"value": NaN}', 400),
    ("PUT", "calc/properties/value", b"Infinity", 400),
    ("POST", "calc/actions/echo", b'{"value": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400),
    ("POST", "calc/actions/echo", b"[" * 200_000, 400),
]


@pytest.mark.parametrize(("method", "path", "body", "status"), ATTACKS)
def test_hostile_bodies_are_refused_and_nothing_is_poisoned(
    lab: ServedLab, method: str, path: str, body: bytes, status: int
) -> None:
    response = requests.request(method, lab.url + path, data=body, headers=JSON, timeout=10)
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == status

    # Proof of health: reads, listings and the whole-server stream all still work.
    assert requests.get(f"{lab.url}calc/properties/free", timeout=5).json() == ""
    listing = requests.get(f"{lab.url}actions?limit=1000", timeout=5)
    assert listing.status_code == 200
    listing.content.decode("utf-8")

    def change() -> None:
        requests.put(f"{lab.url}calc/properties/value", json=2.5, timeout=5)

    got = collect(
        f"{lab.url}events?thing=calc",
        lambda message: message.event == "property" and message.data["name"] == "value",
        on_open=change,
    )
    assert got[-1].data["value"] == 2.5
