"""Instrument failures during a request map to gateway errors naming port and command."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from devices.errors import (
    DeviceReportedError,
    DeviceTimeoutError,
    DisconnectedError,
    ProtocolError,
)
from labthings import LabThing, Thing, thing_property


class Flaky(Thing):
    """Each property fails the way its name says."""

    @thing_property
    def unplugged(self) -> float:
        raise DisconnectedError("connection lost", port="/dev/ttyUSB0", command="POS?")

    @thing_property
    def silent(self) -> float:
        raise DeviceTimeoutError("no reply within 1 s", port="/dev/ttyUSB0", command="POS?")

    @thing_property
    def garbled(self) -> float:
        raise ProtocolError("unparsable reply 'x'", port="/dev/ttyUSB0", command="POS?")

    @thing_property
    def refusing(self) -> float:
        raise DeviceReportedError("ERR 3 out of range", port="/dev/ttyUSB0", command="MA 9 9")

    @thing_property
    def picky(self) -> int:
        return 1

    @picky.setter
    def picky(self, value: int) -> None:
        if value % 2:
            raise ValueError("must be even")


@pytest.fixture
def client() -> FlaskClient:
    labthing = LabThing(title="Flaky lab")
    labthing.add_thing("flaky", Flaky())
    return labthing.create_app().test_client()


@pytest.mark.parametrize(
    ("name", "status"), [("unplugged", 503), ("silent", 504), ("garbled", 502), ("refusing", 502)]
)
def test_device_errors_are_gateway_problems(client: FlaskClient, name: str, status: int) -> None:
    response = client.get(f"/flaky/properties/{name}")
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert "/dev/ttyUSB0" in response.get_json()["detail"]
    assert ("Retry-After" in response.headers) is (status == 503)


def test_a_setter_refusing_a_value_is_422(client: FlaskClient) -> None:
    response = client.put("/flaky/properties/picky", json=3)
    assert response.status_code == 422
    assert response.get_json()["errors"] == {"picky": ["must be even"]}
    assert client.put("/flaky/properties/picky", json=4).status_code == 200
