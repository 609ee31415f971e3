"""Behaviour every driver shows against its simulator: subclass `DriverContract`.

A subclass names its simulator and driver classes and supplies `probe` (one cheap
query whose reply the driver parses, and which differs from the identity) and
`device_error_call` (a call that makes the instrument report an error after
`Fault.ERROR_REPLY` is injected). Every test here then runs for that driver, in-process
and over a real pseudo-terminal.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest

from devices.driver import Driver
from devices.errors import (
    DeviceError,
    DeviceReportedError,
    DeviceTimeoutError,
    DisconnectedError,
    ProtocolError,
)
from devices.simulation import Fault, Simulator
from devices.simulation.pty import PtyBridge

TIMEOUT = 0.3  # reply timeout for the tests: short, so that "no reply" is quick
LATE = 1.5 * TIMEOUT  # a late reply: after its query's timeout, within the next one's

DATA_FAULTS: list[tuple[Fault, type[DeviceError]]] = [
    (Fault.NO_REPLY, DeviceTimeoutError),
    (Fault.GARBAGE_BEFORE, ProtocolError),
    (Fault.PARTIAL_LINE, ProtocolError),
    (Fault.WRONG_TERMINATOR, ProtocolError),
]


class Stop(Exception):
    """What the test cancel check raises."""


class CancelCheck:
    """A driver's `cancel_check` for tests: raises Stop once `cancel()` has been called."""

    def __init__(self) -> None:
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        """From now on (in any thread), every call raises Stop."""
        self._cancelled.set()

    def __call__(self) -> None:
        if self._cancelled.is_set():
            raise Stop


class DriverContract:
    """Shared behaviour tests; see the module docstring."""

    simulator_class: ClassVar[type[Simulator]]
    driver_class: ClassVar[type[Driver]]

    def probe(self, driver: Any) -> object:
        """One query round trip through the driver's parser (e.g. read a measurement)."""
        raise NotImplementedError

    def device_error_call(self, driver: Any) -> None:
        """A call that raises DeviceReportedError once the simulator replies with an error."""
        raise NotImplementedError

    # -- fixtures ------------------------------------------------------------------------

    @pytest.fixture
    def simulator(self) -> Simulator:
        return self.simulator_class()

    @pytest.fixture
    def make_driver(self) -> Iterator[Callable[..., Any]]:
        made: list[Driver] = []

        def make(port: Any, **options: Any) -> Any:
            driver = self.driver_class(port, timeout=TIMEOUT, **options)
            made.append(driver)
            return driver

        yield make
        for driver in made:
            driver.close()

    @pytest.fixture
    def driver(self, simulator: Simulator, make_driver: Callable[..., Any]) -> Any:
        driver = make_driver(simulator.url)
        driver.open()
        return driver

    @pytest.fixture(params=["sim-url", "pty"])
    def linked_driver(
        self, request: pytest.FixtureRequest, simulator: Simulator, make_driver: Callable[..., Any]
    ) -> Iterator[Any]:
        """An open driver on the simulator, in-process or over a pseudo-terminal."""
        if request.param == "sim-url":
            driver = make_driver(simulator.url)
            driver.open()
            yield driver
            return
        if os.name != "posix":
            pytest.skip("pseudo-terminals are POSIX")
        with PtyBridge(simulator) as bridge:
            driver = make_driver(bridge.path)
            driver.open()
            yield driver
            driver.close()

    # -- the contract --------------------------------------------------------------------

    def test_identify_names_the_instrument(self, driver: Driver) -> None:
        identity = driver.identify()
        assert isinstance(identity, str) and identity.strip()

    def test_probe_round_trip(self, driver: Driver) -> None:
        first = self.probe(driver)
        assert first is not None
        assert type(self.probe(driver)) is type(first)

    def test_close_is_safe_twice_and_open_again_works(self, driver: Driver) -> None:
        driver.close()
        driver.close()
        with pytest.raises(DisconnectedError):
            self.probe(driver)
        driver.open()
        assert self.probe(driver) is not None

    @pytest.mark.parametrize(("fault", "error"), DATA_FAULTS, ids=[f.name for f, _ in DATA_FAULTS])
    def test_faults_give_typed_errors_then_the_link_works(
        self, driver: Driver, simulator: Simulator, fault: Fault, error: type[DeviceError]
    ) -> None:
        simulator.inject(fault)
        started = time.monotonic()
        with pytest.raises(error) as raised:
            self.probe(driver)
        assert time.monotonic() - started < TIMEOUT + 2.0
        assert driver.transport.name in str(raised.value)
        assert raised.value.command
        assert self.probe(driver) is not None

    def test_device_reported_errors(self, driver: Driver, simulator: Simulator) -> None:
        simulator.inject(Fault.ERROR_REPLY)
        with pytest.raises(DeviceReportedError) as raised:
            self.device_error_call(driver)
        assert driver.transport.name in str(raised.value)
        assert self.probe(driver) is not None

    def test_a_late_reply_is_never_taken_for_the_next_one(
        self, linked_driver: Driver, simulator: Simulator
    ) -> None:
        identity = linked_driver.identify()
        expected = self.probe(linked_driver)
        simulator.inject(Fault.LATE_REPLY, delay=LATE)
        with pytest.raises(DeviceTimeoutError):
            self.probe(linked_driver)
        # The late probe reply arrives while this query waits: it must not be its answer.
        assert linked_driver.identify() == identity
        assert self.probe(linked_driver) == expected
        assert linked_driver.identify() == identity

    def test_close_makes_the_instrument_safe_while_cancelled_after_a_dropped_link(
        self, simulator: Simulator, make_driver: Callable[..., Any]
    ) -> None:
        reference = self.simulator_class()
        plain = make_driver(reference.url)
        plain.open()
        opened = len(reference.commands)
        plain.close()
        setup, shutdown = reference.commands[:opened], reference.commands[opened:]

        check = CancelCheck()
        driver = make_driver(simulator.url, cancel_check=check)
        driver.open()
        simulator.unplug()  # the link drops and comes back, and the driver has not noticed
        simulator.plug_in()
        sent = len(simulator.commands)
        check.cancel()
        driver.close()
        # Reconnected, set up and made safe; a driver with nothing to make safe sends nothing.
        assert simulator.commands[sent:] == (setup + shutdown if shutdown else [])
        assert not driver.transport.connected

    def test_unplug_then_reconnect_reinitialises(
        self, driver: Driver, simulator: Simulator
    ) -> None:
        commands_at_start = len(simulator.commands)
        init_commands = simulator.commands[:commands_at_start]
        simulator.unplug()
        with pytest.raises(DisconnectedError):
            self.probe(driver)
        assert not driver.transport.connected
        with pytest.raises(DisconnectedError):  # still unplugged
            self.probe(driver)
        simulator.plug_in()
        deadline = time.monotonic() + 10
        while True:  # reconnection waits out its back-off
            try:
                value = self.probe(driver)
                break
            except DisconnectedError:
                assert time.monotonic() < deadline, "never reconnected"
                time.sleep(0.05)
        assert value is not None
        assert driver.transport.connected
        after = simulator.commands[commands_at_start:]
        for command in init_commands:  # initialisation ran again
            assert command in after

    def test_cancel_check_stops_before_the_next_command(
        self, simulator: Simulator, make_driver: Callable[..., Any]
    ) -> None:
        check = CancelCheck()
        driver = make_driver(simulator.url, cancel_check=check)
        driver.open()
        self.probe(driver)
        sent = len(simulator.commands)
        check.cancel()
        with pytest.raises(Stop):
            self.probe(driver)
        time.sleep(0.05)
        assert len(simulator.commands) == sent

    @pytest.mark.skipif(os.name != "posix", reason="pseudo-terminals are POSIX")
    def test_over_a_pseudo_terminal(
        self, simulator: Simulator, make_driver: Callable[..., Any]
    ) -> None:
        with PtyBridge(simulator) as bridge:
            assert bridge.path.startswith("/dev/")
            driver = make_driver(bridge.path)
            driver.open()
            assert driver.identify().strip()
            assert self.probe(driver) is not None
            simulator.inject(Fault.NO_REPLY)
            with pytest.raises(DeviceTimeoutError):
                self.probe(driver)
            assert self.probe(driver) is not None
            driver.close()
