"""The XY stage driver against its simulator (and, with `--hardware stage=PORT`, a real one)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from devices.errors import DeviceTimeoutError, DisconnectedError, ProtocolError
from devices.stage import StageController, StageLimits, StageReportedError
from devices.stage.simulator import StageSimulator
from tests.devices.contract import TIMEOUT, CancelCheck, DriverContract, Stop


class TestStageContract(DriverContract):
    """The shared driver behaviour, for the stage."""

    simulator_class = StageSimulator
    driver_class = StageController

    def probe(self, driver: StageController) -> object:
        return driver.position()

    def device_error_call(self, driver: StageController) -> None:
        driver.move_to(10, 10)


@pytest.fixture
def simulator() -> StageSimulator:
    return StageSimulator(limits=(-20_000, 20_000, -10_000, 10_000), speed=10_000)


@pytest.fixture
def stage(simulator: StageSimulator) -> Iterator[StageController]:
    with StageController(simulator.url, timeout=TIMEOUT) as driver:
        yield driver


# -- reading ---------------------------------------------------------------------------


def test_limits_and_speed_are_read_from_the_controller(stage: StageController) -> None:
    assert stage.limits() == StageLimits(-20_000, 20_000, -10_000, 10_000)
    assert stage.speed == 10_000
    assert stage.position() == (0, 0)
    assert not stage.is_moving()


def test_speed_is_set_on_the_controller(stage: StageController, simulator: StageSimulator) -> None:
    stage.speed = 25_000
    assert stage.speed == 25_000
    assert simulator.state().speed == 25_000


# -- moving ----------------------------------------------------------------------------


def test_a_move_takes_time_in_proportion_to_distance(
    stage: StageController, simulator: StageSimulator
) -> None:
    started = time.monotonic()
    stage.move_to(6_000, -8_000)  # 10,000 steps at 10,000 steps/s: 1 s
    assert time.monotonic() - started < 0.5, "move_to must return at once"
    assert stage.is_moving()
    stage.wait_until_stopped(poll=0.01, timeout=5)
    assert 0.9 < time.monotonic() - started < 4.0
    assert stage.position() == (6_000, -8_000)
    assert simulator.state().position == (6_000, -8_000)


def test_relative_moves_and_home(stage: StageController, simulator: StageSimulator) -> None:
    stage.move_to(300, 400)
    stage.wait_until_stopped(poll=0.01, timeout=2)
    stage.move_by(-100, 50)
    stage.wait_until_stopped(poll=0.01, timeout=2)
    assert stage.position() == (200, 450)
    stage.home()
    stage.wait_until_stopped(poll=0.01, timeout=2)
    assert simulator.state().position == (0, 0)


def test_stop_freezes_the_stage_short_of_its_target(
    stage: StageController, simulator: StageSimulator
) -> None:
    stage.move_to(15_000, 0)  # 1.5 s of travel
    time.sleep(0.1)
    stage.stop()
    stopped = simulator.state()
    assert not stopped.moving and not stage.is_moving()
    assert 0 < stopped.position[0] < 15_000
    time.sleep(0.05)
    assert stage.position() == stopped.position


def test_targets_outside_the_limits_are_refused_before_sending(
    stage: StageController, simulator: StageSimulator
) -> None:
    sent = len(simulator.commands)
    with pytest.raises(ValueError, match=r"\(20001, 0\) is outside.*x from -20000 to 20000"):
        stage.move_to(20_001, 0)
    with pytest.raises(ValueError, match="outside the stage's limits"):
        stage.move_by(0, -10_001)
    with pytest.raises(ValueError, match="speed 0 steps/s is outside"):
        stage.speed = 0
    with pytest.raises(TypeError, match="x must be an integer"):
        stage.move_to(1.5, 0)  # type: ignore[arg-type]
    assert [c for c in simulator.commands[sent:] if c != "POS?"] == []
    assert not simulator.state().moving


def test_closing_the_driver_stops_a_move(simulator: StageSimulator) -> None:
    driver = StageController(simulator.url, timeout=TIMEOUT)
    driver.open()
    driver.move_to(15_000, 0)
    driver.close()
    assert not simulator.state().moving
    assert simulator.commands[-1] == "ST"


def test_a_stop_on_a_closed_driver_fails_at_once_and_is_not_kept(
    stage: StageController, simulator: StageSimulator
) -> None:
    stage.close()
    started = time.monotonic()
    with pytest.raises(DisconnectedError, match="closed"):
        stage.stop()
    assert time.monotonic() - started < 0.5  # no waiting for a link that nobody will reopen
    sent = len(simulator.commands)
    stage.open()
    assert simulator.commands[sent:] == ["ID?", "LIM?"]


# -- errors the controller reports -------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ("XYZZY", 1),
        ("MA 1", 2),
        ("MA 1 two", 2),
        ("MA 1.5 0", 2),
        ("POS? 3", 2),
        ("MA 99999 0", 3),
        ("SPD 0", 4),
        ("SPD 100001", 4),
    ],
)
def test_the_controller_refuses_bad_commands(stage: StageController, line: str, code: int) -> None:
    reply = stage.transport.query(line)
    assert reply.startswith(f"ERR {code} ")


def test_refusals_become_typed_errors_with_code_and_message(
    stage: StageController, simulator: StageSimulator
) -> None:
    stage.move_to(15_000, 0)
    with pytest.raises(StageReportedError) as raised:
        stage.speed = 500  # the controller refuses while moving
    assert raised.value.code == 5
    assert "moving" in raised.value.reason
    assert raised.value.command == "SPD 500"
    assert simulator.url in str(raised.value)


@pytest.mark.parametrize(
    ("command", "reply", "call"),
    [
        ("POS?", "12 abc", StageController.position),
        ("POS?", "12", StageController.position),
        ("BUSY?", "yes", StageController.is_moving),
        ("LIM?", "1 2 3", StageController.limits),
        ("LIM?", "5 1 0 0", StageController.limits),
        ("SPD?", "fast", lambda stage: stage.speed),
        ("ID?", "", StageController.identify),
        ("MA", "DONE", lambda stage: stage.move_to(1, 1)),
        ("ST", "ERR", StageController.stop),
    ],
)
def test_replies_are_parsed_strictly(
    stage: StageController,
    simulator: StageSimulator,
    monkeypatch: pytest.MonkeyPatch,
    command: str,
    reply: str,
    call: Callable[[StageController], object],
) -> None:
    real = simulator.handle
    monkeypatch.setattr(
        simulator, "handle", lambda line: reply if line.split()[0] == command else real(line)
    )
    with pytest.raises(ProtocolError) as raised:
        call(stage)
    assert raised.value.command is not None and raised.value.command.startswith(command)
    assert stage.transport.name in str(raised.value)
    assert repr(reply) in str(raised.value)


# -- waiting -----------------------------------------------------------------------------


def test_waiting_times_out_while_the_stage_still_moves(stage: StageController) -> None:
    stage.move_to(15_000, 0)
    started = time.monotonic()
    with pytest.raises(DeviceTimeoutError, match="still moving after 0.1 s"):
        stage.wait_until_stopped(poll=0.02, timeout=0.1)
    assert time.monotonic() - started < 2
    with pytest.raises(ValueError, match="poll"):
        stage.wait_until_stopped(poll=0)


def test_a_cancel_check_ends_the_wait_and_stop_still_gets_through(
    simulator: StageSimulator,
) -> None:
    check = CancelCheck()
    with StageController(simulator.url, timeout=TIMEOUT, cancel_check=check) as stage:
        stage.move_to(15_000, 0)
        timer = threading.Timer(0.1, check.cancel)
        timer.start()
        started = time.monotonic()
        with pytest.raises(Stop):
            stage.wait_until_stopped(poll=0.02, timeout=5)
        assert time.monotonic() - started < 2.5
        assert simulator.state().moving
        stage.stop()  # not cancellable: a stop must reach the stage while cancelling
        assert not simulator.state().moving
        timer.join(1)


@pytest.mark.parametrize("noticed", [False, True], ids=["drop-unnoticed", "drop-noticed"])
@pytest.mark.parametrize("back_after", [0.0, 0.3], ids=["back-before-stop", "back-during-stop"])
def test_a_stop_while_cancelling_during_an_unplug_is_sent_once_the_link_is_back(
    simulator: StageSimulator, noticed: bool, back_after: float
) -> None:
    check = CancelCheck()
    with StageController(simulator.url, timeout=TIMEOUT, cancel_check=check) as stage:
        stage.move_to(15_000, 0)  # 1.5 s of travel
        simulator.unplug()  # the link drops...
        if noticed:
            with pytest.raises(DisconnectedError):
                stage.position()
        check.cancel()  # ...while the move is being cancelled
        with pytest.raises(Stop):
            stage.wait_until_stopped(poll=0.02, timeout=5)
        assert simulator.state().moving
        if not back_after:
            simulator.plug_in()
        replug = threading.Timer(back_after, simulator.plug_in)
        replug.start()
        sent = len(simulator.commands)
        stage.stop()  # waits for the link, reconnects and sets up (never cancelled), stops
        replug.join(5)
        assert simulator.commands[sent:] == ["ID?", "LIM?", "ST"]
        stopped = simulator.state()
        assert not stopped.moving
        assert 0 < stopped.position[0] < 15_000


def test_a_stop_that_cannot_reach_the_stage_is_sent_after_the_next_reconnection(
    stage: StageController, simulator: StageSimulator
) -> None:
    stage.safe_wait = 0.2
    stage.move_to(15_000, 0)
    simulator.unplug()
    started = time.monotonic()
    with pytest.raises(DisconnectedError):
        stage.stop()
    assert time.monotonic() - started < 1.5
    assert simulator.state().moving
    simulator.plug_in()
    sent = len(simulator.commands)
    assert stage.position()[0] < 15_000  # the next use reconnects: set-up, the stop, then POS?
    assert simulator.commands[sent:] == ["ID?", "LIM?", "ST", "POS?"]
    assert not simulator.state().moving


# -- real hardware -----------------------------------------------------------------------


@pytest.fixture
def hardware_stage(hardware_ports: dict[str, str]) -> Iterator[StageController]:
    port = hardware_ports.get("stage")
    if port is None:
        pytest.skip("no real stage given (pytest --hardware stage=PORT)")
    with StageController(port) as driver:
        yield driver


@pytest.mark.hardware
def test_real_stage_reports_identity_position_and_limits(
    hardware_stage: StageController,
) -> None:
    assert hardware_stage.identify().strip()
    x, y = hardware_stage.position()
    assert hardware_stage.limits().contains(x, y)
    assert hardware_stage.speed >= 1


@pytest.mark.hardware
def test_real_stage_moves_a_few_steps_and_back(hardware_stage: StageController) -> None:
    """Moves 10 steps in x (towards the middle of the range) and back, then stops."""
    start = hardware_stage.position()
    limits = hardware_stage.limits()
    step = 10 if start[0] + 10 <= limits.xmax else -10
    hardware_stage.move_by(step, 0)
    hardware_stage.wait_until_stopped(timeout=30)
    assert hardware_stage.position() == (start[0] + step, start[1])
    hardware_stage.move_to(*start)
    hardware_stage.wait_until_stopped(timeout=30)
    assert hardware_stage.position() == start
