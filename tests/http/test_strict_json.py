"""Strict JSON both ways: what cannot be sent back is refused at the edge, and nothing
stored can make a later read, listing or stream fail."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from labthings import LabThing

LONE = b'"bad \\ud800 text"'


def post(client: FlaskClient, path: str, raw: bytes) -> Any:
    return client.post(path, data=raw, content_type="application/json")


def test_a_lone_surrogate_in_a_property_write_is_422_naming_it(client: FlaskClient) -> None:
    response = client.put("/calc/properties/free", data=LONE, content_type="application/json")
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {"free"}
    assert client.get("/calc/properties/free").get_json() == ""  # nothing was stored


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"message": "\\udfff"}', "message"),
        (b'{"message": "ok", "\\ud800": 1}', "\ud800"),
    ],
)
def test_a_lone_surrogate_in_arguments_is_422_and_starts_nothing(
    client: FlaskClient, raw: bytes, field: str
) -> None:
    response = post(client, "/calc/actions/fail", raw)
    assert response.status_code == 422
    errors = json.loads(response.get_data())["errors"]
    assert len(errors) == 1
    assert client.get("/calc/actions/fail").get_json() == []


@pytest.mark.parametrize(
    "raw",
    [
        b'"bad \xed\xa0\x80 text"',  # a surrogate's UTF-8 bytes, which Python lets through
        '"bad \ud800 text"'.encode("utf-16-le", "surrogatepass"),
    ],
    ids=["utf-8 bytes", "utf-16"],
)
def test_a_lone_surrogate_sent_unescaped_is_422_too(client: FlaskClient, raw: bytes) -> None:
    response = client.put("/calc/properties/free", data=raw, content_type="application/json")
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {"free"}
    assert client.get("/calc/properties/free").get_json() == ""  # nothing was stored


def test_a_lone_surrogate_the_thing_itself_set_is_read_as_a_replacement_character(
    labthing: LabThing, client: FlaskClient
) -> None:
    labthing.thing("calc").free = "bad \ud800 text"  # type: ignore[attr-defined]
    response = client.get("/calc/properties/free")
    assert response.status_code == 200
    assert response.get_json() == "bad \ufffd text"


def test_the_place_of_a_nested_lone_surrogate_is_named(client: FlaskClient) -> None:
    response = post(client, "/calc/actions/echo", b'{"value": ["a", {"k": "\\udc00"}]}')
    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == ["value.1.k"]


def test_a_surrogate_pair_is_text_and_accepted(client: FlaskClient) -> None:
    response = post(client, "/calc/actions/echo", b'{"value": "\\ud83d\\ude00"}')
    assert response.status_code == 201
    assert response.get_json()["output"] == "\U0001f600"


@pytest.mark.parametrize("depth", [33, 100_000])
def test_json_nested_too_deep_is_400(client: FlaskClient, depth: int) -> None:
    raw = b'{"value": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"
    response = post(client, "/calc/actions/echo", raw)
    assert response.status_code == 400
    assert "deeper than 32" in response.get_json()["detail"]


def test_json_nested_to_the_limit_is_fine(client: FlaskClient) -> None:
    raw = b'{"value": ' + b"[" * 31 + b"]" * 31 + b"}"
    assert post(client, "/calc/actions/echo", raw).status_code == 201


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_are_not_json(client: FlaskClient, constant: bytes) -> None:
    response = post(client, "/calc/actions/echo", b'{"value": ' + constant + b"}")
    assert response.status_code == 400
    response = client.put("/calc/properties/value", data=constant, content_type="application/json")
    assert response.status_code == 400


def test_after_every_attack_listings_and_records_still_work(client: FlaskClient) -> None:
    for raw in (LONE, b'{"value": NaN}', b"[" * 50_000):
        post(client, "/calc/actions/echo", raw)
    assert client.post("/calc/actions/fail", json={"message": "bad \ud800"}).status_code == 422
    listing = client.get("/actions?limit=1000")
    assert listing.status_code == 200
    listing.get_data().decode("utf-8")
    assert client.get("/calc/properties/free").status_code == 200
