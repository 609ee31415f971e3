"""The SCPI power supply driver against its simulator (and a real one with --hardware psu=PORT)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devices.errors import (
    DeviceReportedError,
    DeviceTimeoutError,
    DisconnectedError,
    ProtocolError,
)
from devices.power_supply import PowerSupply, PowerSupplySimulator, ScpiError
from devices.simulation import Fault
from tests.devices.contract import LATE, TIMEOUT, CancelCheck, DriverContract, Stop

NOISE = 0.01  # measurements are within this of the ideal value (10 sigma of the noise)


class TestPowerSupplyContract(DriverContract):
    simulator_class = PowerSupplySimulator
    driver_class = PowerSupply

    def probe(self, driver: PowerSupply) -> object:
        return driver.voltage

    def device_error_call(self, driver: PowerSupply) -> None:
        driver.set_voltage(5)


@pytest.fixture
def simulator() -> PowerSupplySimulator:
    return PowerSupplySimulator(load_ohms=10.0)


@pytest.fixture
def psu(simulator: PowerSupplySimulator) -> Iterator[PowerSupply]:
    with PowerSupply(simulator.url, timeout=TIMEOUT) as driver:
        yield driver


def settle(read: Callable[[], float], expected: float, timeout: float = 2.0) -> float:
    """Poll a measurement until it is within NOISE of `expected` (bounded)."""
    deadline = time.monotonic() + timeout
    while abs((value := read()) - expected) > NOISE:
        assert time.monotonic() < deadline, f"read {value}, expected {expected}"
    return value


# -- setpoints -------------------------------------------------------------------------


def test_opening_clears_status_and_identifies(
    psu: PowerSupply, simulator: PowerSupplySimulator
) -> None:
    assert simulator.commands[:2] == ["*CLS", "*IDN?"]
    assert psu.identity == "Labthings Sim,PSU-3005,SN0001,1.0"


def test_setpoints_reach_the_instrument_and_read_back(
    psu: PowerSupply, simulator: PowerSupplySimulator
) -> None:
    psu.set_voltage(12.345)
    psu.set_current_limit(0.25)
    psu.set_output(True)
    assert (simulator.voltage_setpoint, simulator.current_limit, simulator.output_on) == (
        12.345,
        0.25,
        True,
    )
    assert (psu.voltage, psu.current_limit, psu.output) == (12.345, 0.25, True)
    psu.set_output(False)
    assert psu.output is False


@pytest.mark.parametrize(
    ("call", "value", "error"),
    [
        ("set_voltage", -0.1, ValueError),
        ("set_voltage", 30.01, ValueError),
        ("set_voltage", math.nan, ValueError),
        ("set_current_limit", math.inf, ValueError),
        ("set_current_limit", 5.5, ValueError),
        ("set_voltage", "5", TypeError),
        ("set_voltage", True, TypeError),
        ("set_output", 1, TypeError),
    ],
)
def test_bad_values_are_refused_before_anything_is_sent(
    psu: PowerSupply, simulator: PowerSupplySimulator, call: str, value: Any, error: type
) -> None:
    sent = len(simulator.commands)
    with pytest.raises(error, match="must be"):
        getattr(psu, call)(value)
    assert len(simulator.commands) == sent


def test_a_refused_set_raises_the_instruments_error_and_changes_nothing(
    simulator: PowerSupplySimulator,
) -> None:
    class Wider(PowerSupply):
        max_voltage = 60.0  # a driver configured for a bigger model than the one attached

    with Wider(simulator.url, timeout=TIMEOUT) as driver:
        driver.set_voltage(3)
        with pytest.raises(ScpiError) as raised:
            driver.set_voltage(45)
        assert (raised.value.code, raised.value.description) == (-222, "Data out of range")
        assert isinstance(raised.value, DeviceReportedError)
        assert "VOLT 45" in str(raised.value) and simulator.url in str(raised.value)
        assert driver.voltage == 3.0
        driver.set_voltage(4)  # the error was read out: the next set succeeds
        assert driver.voltage == 4.0


def test_reset_restores_power_on_state(psu: PowerSupply, simulator: PowerSupplySimulator) -> None:
    psu.set_voltage(7)
    psu.set_output(True)
    psu.reset()
    assert (psu.voltage, psu.current_limit, psu.output) == (0.0, 1.0, False)


def test_close_switches_the_output_off(simulator: PowerSupplySimulator) -> None:
    driver = PowerSupply(simulator.url, timeout=TIMEOUT)
    driver.open()
    driver.set_voltage(5)
    driver.set_output(True)
    driver.close()
    assert simulator.output_on is False
    assert simulator.commands[-2:] == ["OUTP OFF", "SYST:ERR?"]


def test_a_wrong_instrument_is_refused_on_open(simulator: PowerSupplySimulator) -> None:
    simulator.identity = "HELLO"
    driver = PowerSupply(simulator.url, timeout=TIMEOUT)
    with pytest.raises(ProtocolError, match="HELLO"):
        driver.open()
    driver.close()


# -- measurements ----------------------------------------------------------------------


def test_output_off_measures_nothing(psu: PowerSupply) -> None:
    psu.set_voltage(10)
    assert psu.measure_voltage() == pytest.approx(0, abs=NOISE)
    assert psu.measure_current() == pytest.approx(0, abs=NOISE)


def test_constant_voltage_into_the_load(psu: PowerSupply) -> None:
    psu.set_voltage(5)
    psu.set_current_limit(1)
    psu.set_output(True)
    settle(psu.measure_voltage, 5.0)
    assert psu.measure_current() == pytest.approx(0.5, abs=NOISE)  # 5 V into 10 ohm


def test_current_limit_drops_the_voltage(psu: PowerSupply) -> None:
    psu.set_voltage(5)
    psu.set_current_limit(0.2)
    psu.set_output(True)
    settle(psu.measure_voltage, 2.0)  # constant current: 0.2 A into 10 ohm
    assert psu.measure_current() == pytest.approx(0.2, abs=NOISE)


def test_open_circuit_draws_no_current(psu: PowerSupply, simulator: PowerSupplySimulator) -> None:
    simulator.load_ohms = None
    psu.set_voltage(12)
    psu.set_output(True)
    settle(psu.measure_voltage, 12.0)
    assert psu.measure_current() == pytest.approx(0, abs=NOISE)


def test_the_output_slews_towards_a_new_setpoint(
    psu: PowerSupply, simulator: PowerSupplySimulator
) -> None:
    simulator.slew_rate = 40.0  # volts per second
    simulator.load_ohms = None
    psu.set_voltage(20)
    psu.set_output(True)
    assert psu.measure_voltage() < 10  # still rising
    settle(psu.measure_voltage, 20.0)


# -- the SCPI side of the simulator ----------------------------------------------------


def test_errors_queue_in_order_and_read_out_one_at_a_time(psu: PowerSupply) -> None:
    for bad in ("VOLT 31", "VOLT five", "OUTP maybe", "VOLT", "*RST now", "FOO 1"):
        psu.transport.write(bad)
    assert psu.read_errors() == [
        (-222, "Data out of range"),
        (-104, "Data type error"),
        (-224, "Illegal parameter value"),
        (-109, "Missing parameter"),
        (-108, "Parameter not allowed"),
        (-113, "Undefined header"),
    ]
    assert psu.transport.query("SYST:ERR?") == '0,"No error"'


def test_a_full_error_queue_ends_with_an_overflow(psu: PowerSupply) -> None:
    for _ in range(25):
        psu.transport.write("NONSENSE")
    errors = psu.read_errors()
    assert len(errors) == 20 and errors[-1] == (-350, "Queue overflow")
    psu.transport.write("NONSENSE")
    psu.transport.write("*CLS")
    assert psu.read_errors() == []


def test_an_unknown_query_gets_no_reply(psu: PowerSupply) -> None:
    with pytest.raises(DeviceTimeoutError):
        psu.transport.query("VOLT:PROT?")
    assert psu.read_errors() == [(-113, "Undefined header")]


def test_long_forms_and_any_case_are_understood(psu: PowerSupply) -> None:
    psu.transport.write(":source:voltage 2.5")
    psu.transport.write("OUTPut:STATe ON")
    assert psu.read_errors() == []
    assert float(psu.transport.query("VOLTage?")) == 2.5
    assert psu.transport.query("outp?") == "1"
    assert float(psu.transport.query("MEASure:VOLTage:DC?")) == pytest.approx(2.5, abs=NOISE)


def test_error_entries_in_place_of_a_value_are_reported(
    psu: PowerSupply, simulator: PowerSupplySimulator
) -> None:
    simulator.inject(Fault.ERROR_REPLY)
    with pytest.raises(ScpiError, match="-300"):
        psu.measure_current()
    assert psu.read_errors() == []
    assert psu.measure_current() == pytest.approx(0, abs=NOISE)


# -- late replies, cancels and dropped links -------------------------------------------


def test_a_late_reply_is_not_read_as_the_current_limit(
    psu: PowerSupply, simulator: PowerSupplySimulator
) -> None:
    psu.set_voltage(12)
    psu.set_current_limit(0.5)
    simulator.inject(Fault.LATE_REPLY, delay=LATE)
    with pytest.raises(DeviceTimeoutError):
        _ = psu.voltage  # its reply, 12 V, comes after the timeout
    assert psu.current_limit == 0.5  # not 12.0


def test_a_set_after_a_late_reply_is_not_reported_as_failed(
    psu: PowerSupply, simulator: PowerSupplySimulator
) -> None:
    psu.set_voltage(12)
    simulator.inject(Fault.LATE_REPLY, delay=LATE)
    with pytest.raises(DeviceTimeoutError):
        _ = psu.voltage
    psu.set_current_limit(0.5)  # its SYST:ERR? must not read the late "+1.2E+01"
    assert simulator.current_limit == 0.5
    assert psu.read_errors() == []
    assert psu.voltage == 12.0


def test_switching_off_gets_through_a_cancel_and_a_dropped_link(
    simulator: PowerSupplySimulator,
) -> None:
    check = CancelCheck()
    with PowerSupply(simulator.url, timeout=TIMEOUT, cancel_check=check) as psu:
        psu.set_voltage(5)
        psu.set_output(True)
        simulator.unplug()
        check.cancel()
        replug = threading.Timer(0.3, simulator.plug_in)
        replug.start()
        sent = len(simulator.commands)
        psu.set_output(False)  # waits for the link, reconnects, sets up, switches off
        replug.join(5)
        assert simulator.output_on is False
        assert simulator.commands[sent:] == ["*CLS", "*IDN?", "OUTP OFF", "SYST:ERR?"]
        with pytest.raises(Stop):
            psu.set_output(True)  # switching on is an ordinary, cancellable command
        assert simulator.output_on is False


def test_an_output_off_that_cannot_be_sent_is_sent_after_the_next_reconnection(
    psu: PowerSupply, simulator: PowerSupplySimulator
) -> None:
    psu.safe_wait = 0.2
    psu.set_voltage(5)
    psu.set_output(True)
    simulator.unplug()
    with pytest.raises(DisconnectedError):
        psu.set_output(False)
    assert simulator.output_on is True
    simulator.plug_in()
    sent = len(simulator.commands)
    psu.open()
    assert simulator.commands[sent:] == ["*CLS", "*IDN?", "OUTP OFF", "SYST:ERR?"]
    assert simulator.output_on is False
    assert psu.voltage == 5.0
    assert "OUTP OFF" not in simulator.commands[sent + 4 :]  # sent once, then forgotten


# -- real hardware (pytest --hardware psu=PORT) ----------------------------------------


@pytest.fixture
def real_psu(hardware_ports: dict[str, str]) -> Iterator[PowerSupply]:
    if "psu" not in hardware_ports:
        pytest.skip("no power supply given (--hardware psu=PORT)")
    with PowerSupply(hardware_ports["psu"]) as driver:
        yield driver


@pytest.mark.hardware
def test_real_supply_setpoint_round_trip(real_psu: PowerSupply) -> None:
    """Output stays off: only the setpoint changes, and is put back afterwards."""
    real_psu.set_output(False)
    before = real_psu.voltage
    try:
        real_psu.set_voltage(1.0)
        assert real_psu.voltage == pytest.approx(1.0, abs=0.01)
        assert real_psu.measure_voltage() == pytest.approx(0.0, abs=0.1)
    finally:
        real_psu.set_voltage(before)


@pytest.mark.hardware
def test_real_supply_reports_a_refused_value(real_psu: PowerSupply) -> None:
    real_psu.read_errors()
    real_psu.transport.write("VOLT 1E6")
    errors = real_psu.read_errors()
    assert errors and errors[0][0] < 0
