"""Errors as RFC 9457 problems: registered statuses (a driver's errors), the rest 500."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from devices.errors import (
    DeviceError,
    DeviceReportedError,
    DeviceTimeoutError,
    DisconnectedError,
    ProtocolError,
)
from labthings import ConfigurationError, LabThing, Thing, thing_property


class Flaky(Thing):
    """Each property fails the way its name says."""

    # As a Thing wrapping a driver declares them; the general class comes first on
    # purpose: the most specific class of an error decides, whatever the order.
    error_statuses = {DeviceError: 502, DisconnectedError: 503, DeviceTimeoutError: 504}

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


class Failing(Thing):
    """Raises errors no one registered."""

    @thing_property
    def broken(self) -> float:
        raise DisconnectedError("connection lost", port="/dev/ttyUSB0", command="POS?")

    @thing_property
    def buggy(self) -> float:
        raise KeyError("internal detail")


def test_an_unregistered_error_is_a_500_without_detail() -> None:
    labthing = LabThing(title="Failing lab")
    labthing.add_thing("failing", Failing())
    client = labthing.create_app().test_client()
    for name in ("broken", "buggy"):
        response = client.get(f"/failing/properties/{name}")
        assert response.status_code == 500
        assert "ttyUSB0" not in response.get_data(as_text=True)
        assert "internal detail" not in response.get_data(as_text=True)


def test_the_server_registers_errors_for_any_thing() -> None:
    labthing = LabThing(title="Failing lab")
    labthing.add_thing("failing", Failing())
    labthing.register_error(DisconnectedError, 503)
    client = labthing.create_app().test_client()
    response = client.get("/failing/properties/broken")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert client.get("/failing/properties/buggy").status_code == 500


@pytest.mark.parametrize(("kind", "status"), [(KeyError, 200), (int, 404), (KeyError, "404")])
def test_registering_a_non_error_status_or_class_is_refused(kind: type, status: object) -> None:
    with pytest.raises(ConfigurationError):
        LabThing().register_error(kind, status)  # type: ignore[arg-type]


class Fragile(Thing):
    """Writes reach the instrument; reading back then fails."""

    def __init__(self) -> None:
        self.written: list[int] = []

    @thing_property
    def level(self) -> int:
        if self.written:
            raise DeviceTimeoutError("no reply within 1 s", port="/dev/ttyUSB0", command="LVL?")
        return 0

    @level.setter
    def level(self, value: int) -> None:
        self.written.append(value)


def test_a_write_whose_read_back_fails_is_not_reported_as_refused() -> None:
    fragile = Fragile()
    labthing = LabThing(title="Fragile lab")
    labthing.add_thing("fragile", fragile)
    app = labthing.create_app()
    client = app.test_client()
    watcher = labthing.hub.subscribe(lambda event: True)  # so the setter's change is read back
    try:
        response = client.put("/fragile/properties/level", json=3)
    finally:
        watcher.close()
    assert response.status_code == 204  # written; no value to show
    assert fragile.written == [3]


def test_a_stream_past_the_cap_is_503_with_retry_after() -> None:
    labthing = LabThing(title="Busy lab", max_streams=2)
    labthing.add_thing("flaky", Flaky())
    client = labthing.create_app().test_client()
    open_streams = [client.get("/events", buffered=False) for _ in range(2)]
    try:
        refused = client.get("/flaky/events", buffered=False)
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "1"
        assert "2 event streams" in refused.get_json()["detail"]
    finally:
        for response in open_streams:
            response.close()
    again = client.get("/events", buffered=False)  # closing made room
    assert again.status_code == 200
    again.close()
