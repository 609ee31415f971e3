"""`SpectrometerThing` served over HTTP (Flask's test client) on a simulated spectrometer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from instruments.spectrometer import SpectrometerThing

from devices.spectrometer.simulator import SpectrometerSimulator
from labthings import LabThing

PIXELS = 256


@pytest.fixture
def simulator() -> SpectrometerSimulator:
    return SpectrometerSimulator(pixels=PIXELS, seed=3)


@pytest.fixture
def client(simulator: SpectrometerSimulator) -> Iterator[FlaskClient]:
    labthing = LabThing(title="Spectroscopy", shutdown_wait=2.0, property_lock_timeout=0.2)
    labthing.add_thing("spectrometer", SpectrometerThing(simulator.url))
    app = labthing.create_app()
    with labthing:
        yield app.test_client()


def wait_for(client: FlaskClient, record: dict[str, Any], done: Any, timeout: float = 5) -> Any:
    """Poll the invocation until `done(record)` is true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not done(record):
        assert time.monotonic() < deadline, f"gave up waiting: {record}"
        time.sleep(0.02)
        record = client.get(f"/actions/{record['id']}").get_json()
    return record


def test_properties(client: FlaskClient, simulator: SpectrometerSimulator) -> None:
    assert client.get("/spectrometer/properties/pixels").get_json() == PIXELS
    wavelengths = client.get("/spectrometer/properties/wavelengths").get_json()
    assert len(wavelengths) == PIXELS and wavelengths == sorted(wavelengths)
    assert "SPEC" in client.get("/spectrometer/properties/identity").get_json()

    response = client.put("/spectrometer/properties/integration_time", json=20)
    assert response.status_code == 200 and response.get_json() == 20
    assert client.get("/spectrometer/properties/integration_time").get_json() == 20
    assert simulator.integration_ms == 20

    for bad in (0, 10_001, 2.5):
        response = client.put("/spectrometer/properties/integration_time", json=bad)
        assert response.status_code == 422
    assert client.put("/spectrometer/properties/pixels", json=3).status_code == 405
    assert simulator.integration_ms == 20


def test_averaged_acquisition_reports_progress(
    client: FlaskClient, simulator: SpectrometerSimulator
) -> None:
    client.put("/spectrometer/properties/integration_time", json=5)
    response = client.post(
        "/spectrometer/actions/acquire", json={"averages": 4}, headers={"Prefer": "wait=10"}
    )
    assert response.status_code == 201
    record = response.get_json()
    assert record["status"] == "completed", record
    assert record["progress"] == 100
    assert record["input"] == {"averages": 4}
    assert record["data"]["spectra"] == 4
    assert len(record["output"]) == PIXELS
    assert all(isinstance(value, float | int) for value in record["output"])
    assert simulator.commands.count("ACQ?") == 4


def test_dark_and_default_averages(client: FlaskClient) -> None:
    client.put("/spectrometer/properties/integration_time", json=5)
    dark = client.post("/spectrometer/actions/dark", json={}).get_json()
    light = client.post("/spectrometer/actions/acquire", json={}).get_json()
    assert dark["status"] == light["status"] == "completed"
    assert dark["input"] == light["input"] == {"averages": 1}
    assert max(dark["output"]) < max(light["output"])


@pytest.mark.parametrize("averages", [0, -1, 10_001, "3", 1.5])
def test_bad_averages_are_refused_without_a_task(client: FlaskClient, averages: Any) -> None:
    response = client.post("/spectrometer/actions/acquire", json={"averages": averages})
    assert response.status_code == 422
    assert "averages" in response.get_json()["errors"]
    assert client.get("/actions").get_json() == []


def test_cancel_stops_an_averaged_acquisition_early(
    client: FlaskClient, simulator: SpectrometerSimulator
) -> None:
    client.put("/spectrometer/properties/integration_time", json=50)
    response = client.post(
        "/spectrometer/actions/acquire",
        json={"averages": 200},  # 10 s if left alone
        headers={"Prefer": "respond-async"},
    )
    record = wait_for(client, response.get_json(), lambda r: (r["progress"] or 0) > 0)

    # The instrument is busy: a write has to wait for the acquisition, and is refused.
    busy = client.put("/spectrometer/properties/integration_time", json=10)
    assert busy.status_code == 409

    started = time.monotonic()
    response = client.delete(f"/actions/{record['id']}?timeout=2")
    assert response.status_code == 200
    record = response.get_json()
    assert record["status"] == "cancelled"
    assert time.monotonic() - started < 1
    assert record["data"]["spectra"] < 200
    acquisitions = simulator.commands.count("ACQ?")
    assert acquisitions < 200
    time.sleep(0.15)
    assert simulator.commands.count("ACQ?") == acquisitions  # nothing more was sent
