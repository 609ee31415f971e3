"""The stage Thing over HTTP, on a simulated stage whose true state the tests check."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from instruments.stage import StageThing

from devices.simulation import Fault
from devices.stage.simulator import StageSimulator
from labthings import LabThing

WAIT = 5.0
LONG_MOVE = {"x": 15_000, "y": 5_000}  # about 1.6 s of travel at 10,000 steps/s


@pytest.fixture
def simulator() -> StageSimulator:
    return StageSimulator(limits=(-50_000, 50_000, -20_000, 20_000), speed=10_000)


@pytest.fixture
def server(simulator: StageSimulator) -> LabThing:
    labthing = LabThing(title="Stage lab", property_lock_timeout=0.2)
    labthing.add_thing("stage", StageThing(simulator.url))
    return labthing


@pytest.fixture
def client(server: LabThing) -> Iterator[FlaskClient]:
    with server:
        yield server.create_app().test_client()


def wait_until(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"condition not met within {timeout} s"
        time.sleep(0.02)


def start(client: FlaskClient, action: str, body: dict[str, Any], **headers: str) -> Any:
    response = client.post(f"/stage/actions/{action}", json=body, headers=headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def finished(client: FlaskClient, record: dict[str, Any]) -> dict[str, Any]:
    href = f"/actions/{record['id']}"
    wait_until(lambda: client.get(href).get_json()["status"] not in ("pending", "running"))
    result: dict[str, Any] = client.get(href).get_json()
    return result


def test_a_move_is_watched_then_cancelled_and_the_stage_stops_short(
    client: FlaskClient, simulator: StageSimulator
) -> None:
    record = start(client, "move", LONG_MOVE, Prefer="respond-async")
    href = f"/actions/{record['id']}"
    seen: dict[str, Any] = {}

    def travelling() -> bool:
        seen.update(client.get(href).get_json())
        seen["position"] = client.get("/stage/properties/position").get_json()
        return (seen["progress"] or 0) > 0 and seen["position"] != [0, 0]

    wait_until(travelling)
    assert seen["status"] == "running"
    assert client.get("/stage/properties/moving").get_json() is True

    response = client.delete(href)
    assert response.status_code == 200
    record = response.get_json()
    assert record["status"] == "cancelled"
    assert record["progress"] < 100

    stopped = simulator.state()
    assert not stopped.moving
    assert stopped.target == (15_000, 5_000)
    assert 0 < stopped.position[0] < 15_000 and 0 < stopped.position[1] < 5_000
    assert "ST" in simulator.commands
    time.sleep(0.1)
    assert simulator.state().position == stopped.position  # it stays where it stopped
    assert client.get("/stage/properties/position").get_json() == list(stopped.position)


def test_a_move_cancelled_while_the_link_drops_still_stops_once_the_link_is_back(
    client: FlaskClient, simulator: StageSimulator
) -> None:
    record = start(client, "move", LONG_MOVE, Prefer="respond-async")
    wait_until(lambda: simulator.state().moving)
    simulator.unplug()
    replug = threading.Timer(0.4, simulator.plug_in)
    replug.start()
    client.delete(f"/actions/{record['id']}")
    assert finished(client, record)["status"] in ("cancelled", "error")
    replug.join(5)
    stopped = simulator.state()
    assert not stopped.moving
    assert stopped.position[0] < 15_000 and stopped.target == (15_000, 5_000)
    assert simulator.commands[-3:] == ["ID?", "LIM?", "ST"]  # reconnected, set up, stopped


def test_a_move_completes_at_its_target(client: FlaskClient, simulator: StageSimulator) -> None:
    record = start(client, "move", {"x": 1_200, "y": -900}, Prefer="wait=5")
    assert record["status"] == "completed", record
    assert record["progress"] == 100
    assert record["output"] == [1_200, -900]
    assert record["data"]["position"] == [1_200, -900]
    assert simulator.state().position == (1_200, -900)
    assert not simulator.state().moving
    assert client.get("/stage/properties/position").get_json() == [1_200, -900]


def test_relative_moves_and_home(client: FlaskClient, simulator: StageSimulator) -> None:
    start(client, "move", {"x": 500, "y": 500}, Prefer="wait=5")
    record = start(client, "move_relative", {"dx": -200, "dy": 100}, Prefer="wait=5")
    assert record["output"] == [300, 600]
    record = start(client, "home", {}, Prefer="wait=5")
    assert record["output"] == [0, 0]
    assert simulator.state().position == (0, 0)


def test_a_target_outside_the_limits_fails_clearly_and_nothing_moves(
    client: FlaskClient, simulator: StageSimulator
) -> None:
    record = start(client, "move", {"x": 0, "y": 30_000}, Prefer="wait=5")
    assert record["status"] == "error"
    assert "(0, 30000) is outside the stage's limits" in record["error"]["detail"]
    assert "y from -20000 to 20000" in record["error"]["detail"]
    record = start(client, "move_relative", {"dx": 60_000, "dy": 0}, Prefer="wait=5")
    assert record["status"] == "error"
    assert not any(command.startswith(("MA", "MR")) for command in simulator.commands)
    assert simulator.state().position == (0, 0)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"x": 1.5, "y": 0}, "x"),
        ({"x": 1}, "y"),
        ({"x": "1", "y": 0}, "x"),
        ({"x": 0, "y": 2**31}, "y"),
    ],
)
def test_bad_arguments_are_refused_at_the_edge(
    client: FlaskClient, body: dict[str, Any], field: str
) -> None:
    response = client.post("/stage/actions/move", json=body)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]
    assert client.get("/actions").get_json() == []


def test_speed_is_read_and_written_on_the_device(
    client: FlaskClient, simulator: StageSimulator
) -> None:
    assert client.get("/stage/properties/speed").get_json() == 10_000
    response = client.put("/stage/properties/speed", json=20_000)
    assert response.status_code == 200 and response.get_json() == 20_000
    assert simulator.state().speed == 20_000
    for bad in (0, 100_001, 2.5):
        assert client.put("/stage/properties/speed", json=bad).status_code == 422
    assert simulator.state().speed == 20_000
    limits = client.get("/stage/properties/limits").get_json()
    assert limits == {"xmin": -50_000, "xmax": 50_000, "ymin": -20_000, "ymax": 20_000}


def test_speed_cannot_change_while_a_move_holds_the_stage(
    client: FlaskClient, simulator: StageSimulator
) -> None:
    record = start(client, "move", LONG_MOVE, Prefer="respond-async")
    wait_until(lambda: simulator.state().moving)
    response = client.put("/stage/properties/speed", json=500)
    assert response.status_code == 409
    assert "move" in response.get_json()["detail"]
    assert client.delete(f"/actions/{record['id']}").get_json()["status"] == "cancelled"


def test_shutting_the_server_down_stops_a_move(server: LabThing, simulator: StageSimulator) -> None:
    with server:
        client = server.create_app().test_client()
        record = start(client, "move", LONG_MOVE, Prefer="respond-async")
        wait_until(lambda: simulator.state().moving)
    assert not simulator.state().moving
    assert finished(client, record)["status"] == "cancelled"


def test_the_thing_works_from_python_without_a_server(simulator: StageSimulator) -> None:
    with StageThing(simulator.url) as stage:
        assert stage.move(100, -100) == [100, -100]
        assert stage.position == [100, -100]
        assert stage.identity.startswith("LabMotion")
    assert not simulator.state().moving


def test_driver_failures_in_requests_are_gateway_problems(
    client: FlaskClient, simulator: StageSimulator
) -> None:
    # DriverThing registers the device errors' statuses; the framework knows no driver.
    simulator.inject(Fault.NO_REPLY)
    silent = client.get("/stage/properties/position")
    assert silent.status_code == 504, silent.get_data(as_text=True)
    assert silent.mimetype == "application/problem+json"
    assert simulator.url in silent.get_json()["detail"]  # names the port
    simulator.unplug()
    unplugged = client.get("/stage/properties/position")
    assert unplugged.status_code == 503
    assert unplugged.headers["Retry-After"] == "1"
    simulator.plug_in()
