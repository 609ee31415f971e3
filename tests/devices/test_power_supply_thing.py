"""`PowerSupplyThing` served over HTTP, on a simulated supply."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from instruments.power_supply import PowerSupplyThing

from devices.power_supply import PowerSupplySimulator
from labthings import LabThing

WAIT = 5.0  # the longest any poll here waits


@pytest.fixture
def simulator() -> PowerSupplySimulator:
    return PowerSupplySimulator(load_ohms=10.0)


@pytest.fixture
def psu_client(simulator: PowerSupplySimulator) -> Iterator[FlaskClient]:
    labthing = LabThing(title="Bench")
    labthing.add_thing("psu", PowerSupplyThing(simulator.url))
    with labthing:
        yield labthing.create_app().test_client()
    assert simulator.output_on is False  # closing the Thing made the supply safe


def record_of(client: FlaskClient, task_id: str) -> dict[str, Any]:
    response = client.get(f"/actions/{task_id}")
    assert response.status_code == 200
    body: dict[str, Any] = response.get_json()
    return body


def wait_until_finished(client: FlaskClient, task_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT
    while (record := record_of(client, task_id))["status"] in ("pending", "running"):
        assert time.monotonic() < deadline, f"{task_id} still {record['status']}"
        time.sleep(0.02)
    return record


def test_property_writes_reach_the_instrument(
    psu_client: FlaskClient, simulator: PowerSupplySimulator
) -> None:
    response = psu_client.put("/psu/properties/voltage", json=12.5)
    assert response.status_code == 200 and response.get_json() == 12.5
    assert psu_client.put("/psu/properties/current_limit", json=0.75).status_code == 200
    assert psu_client.put("/psu/properties/output", json=True).status_code == 200
    assert (simulator.voltage_setpoint, simulator.current_limit, simulator.output_on) == (
        12.5,
        0.75,
        True,
    )
    assert psu_client.get("/psu/properties/voltage").get_json() == 12.5
    assert "PSU-3005" in psu_client.get("/psu/properties/identity").get_json()


def test_out_of_range_writes_are_refused_at_the_edge(
    psu_client: FlaskClient, simulator: PowerSupplySimulator
) -> None:
    sent = len(simulator.commands)
    response = psu_client.put("/psu/properties/voltage", json=31)
    assert response.status_code == 422 and "voltage" in response.get_json()["errors"]
    assert psu_client.put("/psu/properties/measured_voltage", json=1).status_code == 405
    assert simulator.commands[sent:] == []


def test_measured_values_read_back(psu_client: FlaskClient) -> None:
    psu_client.put("/psu/properties/voltage", json=4.0)
    psu_client.put("/psu/properties/output", json=True)
    volts = psu_client.get("/psu/properties/measured_voltage").get_json()
    amps = psu_client.get("/psu/properties/measured_current").get_json()
    assert volts == pytest.approx(4.0, abs=0.01)
    assert amps == pytest.approx(0.4, abs=0.01)  # 4 V into 10 ohm


def test_a_ramp_completes_with_progress_at_its_target(
    psu_client: FlaskClient, simulator: PowerSupplySimulator
) -> None:
    response = psu_client.post(
        "/psu/actions/ramp_voltage", json={"target": 3.0, "rate": 10}, headers={"Prefer": "wait=5"}
    )
    assert response.status_code == 201
    record = response.get_json()
    assert record["status"] == "completed", record
    assert record["progress"] == 100
    assert record["output"] == 3.0 and record["data"]["voltage"] == 3.0
    assert simulator.voltage_setpoint == 3.0
    steps = [float(c.split()[1]) for c in simulator.commands if c.startswith("VOLT ")]
    assert len(steps) >= 4 and steps == sorted(steps)  # stepped up, not jumped


def test_bad_ramp_arguments_start_nothing(psu_client: FlaskClient) -> None:
    for body in ({"target": 3.0, "rate": 0}, {"target": 40.0}, {"rate": 1.0}):
        response = psu_client.post("/psu/actions/ramp_voltage", json=body)
        assert response.status_code == 422, body
    assert psu_client.get("/actions").get_json() == []


def test_cancelling_a_ramp_stops_it_short_of_its_target(
    psu_client: FlaskClient, simulator: PowerSupplySimulator
) -> None:
    response = psu_client.post(
        "/psu/actions/ramp_voltage",
        json={"target": 20.0, "rate": 10},
        headers={"Prefer": "respond-async"},
    )
    task_id = response.get_json()["id"]
    deadline = time.monotonic() + WAIT
    while not record_of(psu_client, task_id)["progress"]:
        assert time.monotonic() < deadline, "the ramp never made progress"
        time.sleep(0.02)
    assert psu_client.delete(f"/actions/{task_id}").status_code == 200
    record = wait_until_finished(psu_client, task_id)
    assert record["status"] == "cancelled"
    stopped_at = simulator.voltage_setpoint
    assert 0 < stopped_at < 20
    time.sleep(0.2)  # four ramp steps: nothing more is sent
    assert simulator.voltage_setpoint == stopped_at
    assert psu_client.get("/psu/properties/voltage").get_json() == stopped_at
