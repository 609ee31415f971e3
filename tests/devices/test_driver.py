"""The `Driver` base: its abstract hooks, `with` typing, and the parse-error helpers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from devices.driver import Driver
from devices.errors import ProtocolError

ROOT = Path(__file__).parents[2]


class LoopDriver(Driver):
    """The least a driver must write, over pyserial's `loop://`, which echoes each line."""

    shutdowns = 0

    def _do_shutdown(self) -> None:
        self.shutdowns += 1

    def _do_identify(self) -> str:
        return self.transport.query("ID?")


@pytest.fixture
def loop() -> LoopDriver:
    return LoopDriver("loop://", timeout=0.3)


def test_a_driver_without_its_abstract_hooks_cannot_be_made() -> None:
    class Incomplete(Driver):
        def _do_identify(self) -> str:
            return "incomplete"

    with pytest.raises(TypeError, match="_do_identify"):
        Driver("loop://")  # type: ignore[abstract]
    with pytest.raises(TypeError, match="_do_shutdown"):
        Incomplete("loop://")  # type: ignore[abstract]


def test_the_abstract_hooks_are_all_a_driver_needs(loop: LoopDriver) -> None:
    with loop as entered:
        assert entered is loop
        assert entered.identify() == "ID?"
    assert loop.shutdowns == 1
    assert not loop.transport.connected


def test_with_gives_the_driver_s_own_class_to_mypy() -> None:
    program = (
        "from devices.stage import StageController\n"
        "with StageController('sim://stage') as stage:\n"
        "    stage.position()\n"  # no such attribute if `__enter__` returned a Driver
    )
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file=", "--cache-dir=/dev/null"]
        + ["--python-version=3.10", "--follow-imports=silent", "-c", program],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_bad_reply_names_port_command_and_an_excerpt_of_the_reply(loop: LoopDriver) -> None:
    error = loop._bad_reply("POS?", "x" * 100, "'x y'")
    assert isinstance(error, ProtocolError)
    assert error.port == "loop://" and error.command == "POS?"
    assert str(error) == (
        f"loop://: 'POS?': unexpected reply {'x' * 40!r}... (100 chars) (expected 'x y')"
    )


@pytest.mark.parametrize(
    ("reply", "value"), [("42", 42), (" +7 ", 7), ("-3", -3), ("100", 100), ("-10", -10)]
)
def test_parse_int_reads_whole_numbers_in_range(loop: LoopDriver, reply: str, value: int) -> None:
    assert loop._parse_int("N?", reply, -10, 100) == value


@pytest.mark.parametrize("reply", ["", "4.0", "0x10", "1 2", "101", "-11", "٣"])
def test_parse_int_refuses_anything_else(loop: LoopDriver, reply: str) -> None:
    with pytest.raises(ProtocolError, match=r"'N\?': .*expected a whole number from -10 to 100"):
        loop._parse_int("N?", reply, -10, 100)


@pytest.mark.parametrize(
    ("reply", "value"), [("1.5", 1.5), (" -2E3 ", -2000.0), (".5", 0.5), ("7", 7.0)]
)
def test_parse_float_reads_decimal_numbers(loop: LoopDriver, reply: str, value: float) -> None:
    assert loop._parse_float("V?", reply) == value


@pytest.mark.parametrize("reply", ["", "nan", "inf", "1e999", "1_000", "1.2.3", "0x1p3"])
def test_parse_float_refuses_anything_else(loop: LoopDriver, reply: str) -> None:
    with pytest.raises(ProtocolError, match=r"'V\?': .*expected a number"):
        loop._parse_float("V?", reply)
