"""LineTransport against a tiny echo simulator, `loop://`, and a real pseudo-terminal."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from devices.errors import DeviceTimeoutError, DisconnectedError, ProtocolError
from devices.simulation import Fault, Simulator, simulator_for_url
from devices.simulation.pty import PtyBridge
from devices.transport import Backoff, LineProtocol, LineTransport, PortSettings
from tests.devices.contract import CancelCheck, Stop


class Echo(Simulator):
    """Replies to `ECHO text` with the text in capitals; `SLOW s` replies after s seconds;
    `WHO` with the simulator's id."""

    kind = "echo-test"

    def handle(self, command: str) -> str | None:
        verb, _, rest = command.partition(" ")
        if verb == "ECHO":
            return rest.upper()
        if verb == "WHO":
            return self.id
        if verb == "SLOW":
            time.sleep(float(rest))
            return "DONE"
        if verb == "SILENT":
            return None
        return "ERR unknown"


@pytest.fixture
def echo() -> Echo:
    return Echo()


@pytest.fixture
def transport(echo: Echo) -> Iterator[LineTransport]:
    connection = LineTransport(echo.url, protocol=LineProtocol(timeout=0.3))
    connection.open()
    yield connection
    connection.close()


def test_query_round_trip_strips_the_terminator(transport: LineTransport) -> None:
    assert transport.query("ECHO hello") == "HELLO"
    assert transport.connected
    assert transport.name.startswith("sim://echo-test/")


def test_write_sends_a_command_with_no_reply(transport: LineTransport, echo: Echo) -> None:
    transport.write("SILENT")
    assert transport.query("ECHO after") == "AFTER"
    assert echo.commands == ["SILENT", "ECHO after"]


def test_no_reply_is_a_timeout_naming_command_and_port(transport: LineTransport) -> None:
    started = time.monotonic()
    with pytest.raises(DeviceTimeoutError) as raised:
        transport.query("SILENT", timeout=0.2)
    assert 0.15 < time.monotonic() - started < 2.0
    assert raised.value.command == "SILENT"
    assert transport.name in str(raised.value) and "'SILENT'" in str(raised.value)


def test_a_late_reply_is_cleared_before_the_next_command(transport: LineTransport) -> None:
    with pytest.raises(DeviceTimeoutError):
        transport.query("SLOW 0.3", timeout=0.1)
    time.sleep(0.35)  # the late "DONE" is now waiting in the input buffer
    assert transport.query("ECHO fresh") == "FRESH"


def test_a_late_reply_arriving_during_the_next_query_is_never_its_answer(
    transport: LineTransport,
) -> None:
    with pytest.raises(DeviceTimeoutError):
        transport.query("SLOW 0.3", timeout=0.1)  # "DONE" comes while the next query waits
    started = time.monotonic()
    assert transport.query("ECHO fresh") == "FRESH"
    assert time.monotonic() - started >= 0.3  # it waited for the line to settle
    assert transport.query("ECHO next") == "NEXT"


@pytest.mark.parametrize("fault", [Fault.NO_REPLY, Fault.PARTIAL_LINE])
def test_the_settle_time_is_a_protocol_setting(echo: Echo, fault: Fault) -> None:
    assert LineProtocol(timeout=0.4).settle_time == 0.4
    with LineTransport(echo.url, protocol=LineProtocol(timeout=0.2, settle=0.05)) as connection:
        echo.inject(fault)
        with pytest.raises((DeviceTimeoutError, ProtocolError)):
            connection.query("ECHO lost")
        started = time.monotonic()
        assert connection.query("ECHO quick") == "QUICK"
        assert 0.05 <= time.monotonic() - started < 0.2


def test_a_resync_hook_runs_in_place_of_the_drain(echo: Echo) -> None:
    discarded: list[int] = []
    connection = LineTransport(
        echo.url,
        protocol=LineProtocol(timeout=0.3),
        on_resync=lambda transport: discarded.append(transport.drain(0.5)),
    )
    with connection:
        assert connection.query("ECHO a") == "A"
        with pytest.raises(DeviceTimeoutError):
            connection.query("SLOW 0.2", timeout=0.1)
        assert connection.query("ECHO b") == "B"
        assert connection.query("ECHO c") == "C"
    assert discarded == [len(b"DONE\n")]  # once, and it took the late reply


def test_a_drain_gives_up_on_a_line_that_never_goes_quiet() -> None:
    port = serial.serial_for_url("loop://", timeout=0.2)
    quiet = threading.Event()

    def chatter() -> None:
        while not quiet.is_set():
            port.write(b"x")
            time.sleep(0.005)

    with LineTransport(port) as connection:
        thread = threading.Thread(target=chatter)
        thread.start()
        started = time.monotonic()
        try:
            discarded = connection.drain(0.05)
        finally:
            quiet.set()
            thread.join(2)
        assert discarded > 0
        assert 0.45 < time.monotonic() - started < 1.5  # ten times the quiet time


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.NO_REPLY, DeviceTimeoutError),
        (Fault.PARTIAL_LINE, ProtocolError),
        (Fault.WRONG_TERMINATOR, ProtocolError),
    ],
)
def test_framing_faults(
    transport: LineTransport, echo: Echo, fault: Fault, error: type[Exception]
) -> None:
    echo.inject(fault)
    with pytest.raises(error):
        transport.query("ECHO abcdef")
    assert transport.query("ECHO ok") == "OK"


def test_garbage_before_the_reply_reaches_the_parser(transport: LineTransport, echo: Echo) -> None:
    echo.inject(Fault.GARBAGE_BEFORE)
    with pytest.raises(ProtocolError, match="undecodable"):
        transport.query("ECHO x")  # the noise is not ASCII
    assert transport.query("ECHO y") == "Y"


def test_custom_terminators_and_encoding() -> None:
    class Crlf(Echo):
        kind = "echo-crlf-test"
        read_terminator = "\r"
        write_terminator = "\r\n"
        encoding = "latin-1"

    simulator = Crlf()
    protocol = LineProtocol(write_terminator="\r", read_terminator="\r\n", encoding="latin-1")
    with LineTransport(simulator.url, protocol=protocol) as connection:
        assert connection.query("ECHO grüße") == "GRÜSSE"


def test_unplug_reports_disconnected_then_reconnects_with_backoff_and_reinitialises(
    echo: Echo,
) -> None:
    initialised: list[float] = []
    connection = LineTransport(
        echo.url,
        protocol=LineProtocol(timeout=0.3),
        on_connect=lambda transport: initialised.append(time.monotonic()),
        backoff=Backoff(first=0.1, maximum=0.4),
    )
    with connection:
        assert len(initialised) == 1
        echo.unplug()
        with pytest.raises(DisconnectedError, match="connection lost"):
            connection.query("ECHO a")
        assert not connection.connected
        with pytest.raises(DisconnectedError, match="cannot open"):
            connection.query("ECHO a")  # first attempt: still unplugged
        with pytest.raises(DisconnectedError, match="next reconnection attempt"):
            connection.query("ECHO a")  # within the back-off: no attempt at all
        echo.plug_in()
        deadline = time.monotonic() + 5
        while True:
            try:
                assert connection.query("ECHO back") == "BACK"
                break
            except DisconnectedError:
                assert time.monotonic() < deadline
                time.sleep(0.02)
        assert len(initialised) == 2


def test_closed_transport_refuses_until_opened_again(transport: LineTransport) -> None:
    transport.close()
    transport.close()
    with pytest.raises(DisconnectedError, match="closed"):
        transport.query("ECHO x")
    transport.open()
    assert transport.query("ECHO x") == "X"


def test_cancel_check_runs_before_each_command_unless_not_cancellable(echo: Echo) -> None:
    calls: list[str] = []

    class Stop(Exception):
        pass

    def check() -> None:
        calls.append("check")
        if len(calls) > 1:
            raise Stop

    with LineTransport(echo.url, cancel_check=check) as connection:
        assert connection.query("ECHO one") == "ONE"
        with pytest.raises(Stop):
            connection.query("ECHO two")
        assert connection.query("ECHO stop", cancellable=False) == "STOP"
    assert echo.commands == ["ECHO one", "ECHO stop"]


def test_uncancellable_commands_skip_the_check_and_the_backoff_and_reconnect(
    echo: Echo,
) -> None:
    check = CancelCheck()
    initialised: list[str] = []
    connection = LineTransport(
        echo.url,
        protocol=LineProtocol(timeout=0.3),
        on_connect=lambda transport: initialised.append(transport.query("ECHO init")),
        cancel_check=check,
        backoff=Backoff(first=30, maximum=30),
    )
    with connection:
        echo.unplug()
        with pytest.raises(DisconnectedError, match="connection lost"):
            connection.query("ECHO a")
        with pytest.raises(DisconnectedError, match="cannot open"):
            connection.query("ECHO a")  # and the next attempt is 30 s away
        echo.plug_in()
        check.cancel()
        with pytest.raises(Stop):
            connection.query("ECHO b")
        # A safety command goes at once, through a reconnection whose set-up is not cancelled.
        assert connection.query("ECHO stop", cancellable=False) == "STOP"
        assert initialised == ["INIT", "INIT"]
        with connection.uncancellable():
            assert connection.query("ECHO off") == "OFF"
            with connection.uncancellable():
                assert connection.query("ECHO nested") == "NESTED"
            assert connection.query("ECHO still") == "STILL"
        with pytest.raises(Stop):
            connection.query("ECHO after")
        other_thread: list[BaseException] = []

        def from_another_thread() -> None:
            try:
                connection.query("ECHO other")
            except BaseException as error:
                other_thread.append(error)

        with connection.uncancellable():  # only for the thread inside the block
            thread = threading.Thread(target=from_another_thread)
            thread.start()
            thread.join(5)
        assert len(other_thread) == 1 and isinstance(other_thread[0], Stop)
    assert "ECHO after" not in echo.commands and "ECHO other" not in echo.commands


def test_a_reconnection_to_a_plain_sim_url_reaches_the_same_simulator() -> None:
    with LineTransport("sim://echo-test", protocol=LineProtocol(timeout=0.3)) as connection:
        first = connection.query("WHO")
        simulator = simulator_for_url(f"sim://echo-test/{first}")
        simulator.unplug()
        with pytest.raises(DisconnectedError):
            connection.query("WHO")
        simulator.plug_in()
        connection.open()
        assert connection.query("WHO") == first
        connection.close()
        connection.open()
        assert connection.query("WHO") == first


def test_the_port_lock_keeps_concurrent_queries_paired(transport: LineTransport) -> None:
    mismatches: list[tuple[str, str]] = []

    def worker(name: str) -> None:
        for index in range(30):
            word = f"{name}{index}"
            reply = transport.query(f"ECHO {word}")
            if reply != word.upper():
                mismatches.append((word, reply))

    threads = [threading.Thread(target=worker, args=(f"t{n}x",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert not mismatches


def test_a_given_port_object_and_loop_url() -> None:
    port = serial.serial_for_url("loop://", timeout=0.2)
    with LineTransport(port) as connection:
        assert connection.query("PING") == "PING"  # loop:// echoes what it is sent
    assert not port.is_open
    with LineTransport("loop://", settings=PortSettings(baudrate=115200)) as connection:
        assert connection.query("PONG") == "PONG"


def test_unknown_simulator_and_missing_port_are_disconnected_errors() -> None:
    with pytest.raises(DisconnectedError, match="unknown simulator kind"):
        LineTransport("sim://no-such-kind").open()
    with pytest.raises(DisconnectedError, match="cannot open"):
        LineTransport("/dev/no-such-serial-port").open()


def test_sim_urls_work_in_a_fresh_interpreter_and_register_once() -> None:
    # This process imported devices.simulation long ago, so only a new one shows whether
    # importing a driver is enough.
    program = (
        "import importlib, serial\n"
        "from devices import transport\n"
        "from devices.stage import StageController\n"
        "with StageController('sim://stage') as stage:\n"
        "    print(stage.position())\n"
        "importlib.reload(transport)\n"
        "print(serial.protocol_handler_packages.count('devices.simulation'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program],
        cwd=Path(__file__).parents[2],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["(0, 0)", "1"]


def test_an_overlong_reply_is_a_protocol_error(echo: Echo) -> None:
    with LineTransport(echo.url) as connection:
        with pytest.raises(ProtocolError, match="longer than"):
            connection.query("ECHO " + "x" * (1 << 20 | 100), timeout=5)
        assert connection.query("ECHO ok") == "OK"


@pytest.mark.skipif(os.name != "posix", reason="pseudo-terminals are POSIX")
def test_over_a_pseudo_terminal(echo: Echo) -> None:
    with PtyBridge(echo) as bridge:
        with LineTransport(bridge.path, protocol=LineProtocol(timeout=0.5)) as connection:
            assert connection.query("ECHO tty") == "TTY"
            echo.inject(Fault.NO_REPLY)
            with pytest.raises(DeviceTimeoutError):
                connection.query("ECHO lost")
            assert connection.query("ECHO again") == "AGAIN"
            big = "y" * 20_000
            assert connection.query(f"ECHO {big}") == big.upper()
