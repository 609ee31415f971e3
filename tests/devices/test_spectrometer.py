"""The spectrometer driver against its simulator (and, with `--hardware`, a real one)."""

from __future__ import annotations

import binascii
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devices.errors import DeviceReportedError, DisconnectedError, ProtocolError
from devices.simulation import Simulator
from devices.spectrometer import MAX_COUNTS, Spectrometer
from devices.spectrometer.simulator import SpectrometerSimulator
from tests.devices.contract import TIMEOUT, DriverContract

GREEN_LINE_NM = 546.07  # the brightest mercury line in the simulated lamp


class TestSpectrometerContract(DriverContract):
    simulator_class = SpectrometerSimulator
    driver_class = Spectrometer

    def probe(self, driver: Spectrometer) -> object:
        return driver.integration_time

    def device_error_call(self, driver: Spectrometer) -> None:
        driver.integration_time = 50


@pytest.fixture
def simulator() -> SpectrometerSimulator:
    return SpectrometerSimulator(seed=7)


@pytest.fixture
def driver(simulator: SpectrometerSimulator) -> Iterator[Spectrometer]:
    spectrometer = Spectrometer(simulator.url, timeout=TIMEOUT)
    spectrometer.open()
    yield spectrometer
    spectrometer.close()


def peak_pixel(spectrum: list[int], wavelengths: list[float], nm: float) -> int:
    """The brightest pixel within 2 nm of `nm`."""
    near = [p for p, w in enumerate(wavelengths) if abs(w - nm) < 2]
    return max(near, key=spectrum.__getitem__)


def tamper(
    simulator: Simulator, monkeypatch: pytest.MonkeyPatch, change: Callable[[str], str]
) -> None:
    """Make the simulator pass its `ACQ?` replies through `change`."""
    handle = simulator.handle

    def tampered(command: str) -> str | None:
        reply = handle(command)
        return change(reply) if command == "ACQ?" and reply is not None else reply

    monkeypatch.setattr(simulator, "handle", tampered)


def spectrum_line(values: list[int], announced: int | None = None) -> str:
    """A well-formed spectrum reply (valid checksum) holding `values`."""
    data = ",".join(map(str, values))
    count = len(values) if announced is None else announced
    return f"{count}:{data};{binascii.crc_hqx(data.encode(), 0xFFFF):04X}"


# -- calibration and settings ----------------------------------------------------------------


def test_pixels_and_wavelengths_come_from_the_instrument(driver: Spectrometer) -> None:
    wavelengths = driver.wavelengths()
    assert driver.pixels == 2048 == len(wavelengths)
    assert wavelengths == sorted(set(wavelengths))  # strictly increasing
    assert 330 < wavelengths[0] < 350 and 780 < wavelengths[-1] < 810


def test_integration_time_round_trip(
    driver: Spectrometer, simulator: SpectrometerSimulator
) -> None:
    driver.integration_time = 250
    assert driver.integration_time == 250
    assert simulator.integration_ms == 250


@pytest.mark.parametrize("bad", [0, -5, 10_001, 1.5, "100", True])
def test_bad_integration_times_are_refused_before_sending(
    driver: Spectrometer, simulator: SpectrometerSimulator, bad: Any
) -> None:
    sent = len(simulator.commands)
    with pytest.raises((ValueError, TypeError), match="integration time"):
        driver.integration_time = bad
    assert len(simulator.commands) == sent


def test_integration_time_is_restored_after_a_power_cycle(
    driver: Spectrometer, simulator: SpectrometerSimulator
) -> None:
    driver.integration_time = 40
    simulator.unplug()
    with simulator.lock:
        simulator.integration_ms = 100  # the instrument forgot it
    simulator.plug_in()
    deadline = time.monotonic() + 5
    while True:
        try:
            assert driver.integration_time == 40
            break
        except DisconnectedError:
            assert time.monotonic() < deadline, "never reconnected"
            time.sleep(0.05)


# -- spectra -----------------------------------------------------------------------------------


def test_acquire_takes_the_integration_time_and_shows_the_lamp(driver: Spectrometer) -> None:
    driver.integration_time = 200
    started = time.monotonic()
    spectrum = driver.acquire()
    assert time.monotonic() - started >= 0.2
    assert len(spectrum) == driver.pixels
    assert all(isinstance(value, int) and 0 <= value <= MAX_COUNTS for value in spectrum)
    green = peak_pixel(spectrum, driver.wavelengths(), GREEN_LINE_NM)
    assert spectrum[green] > 10 * statistics.median(spectrum)


def test_signal_scales_with_integration_time(driver: Spectrometer) -> None:
    wavelengths = driver.wavelengths()
    heights = []
    for milliseconds in (20, 40):
        driver.integration_time = milliseconds
        spectrum = driver.acquire()
        green = peak_pixel(spectrum, wavelengths, GREEN_LINE_NM)
        heights.append(spectrum[green] - statistics.median(driver.dark()))
    assert 1.7 < heights[1] / heights[0] < 2.3


def test_long_integration_saturates_and_outlasts_the_reply_timeout(
    driver: Spectrometer,
) -> None:
    driver.integration_time = 500  # longer than the 0.3 s reply timeout
    spectrum = driver.acquire()
    assert max(spectrum) == MAX_COUNTS


def test_dark_spectrum_has_no_lines(driver: Spectrometer) -> None:
    driver.integration_time = 50
    dark = driver.dark()
    assert len(dark) == driver.pixels
    assert 950 < statistics.median(dark) < 1100
    assert max(dark) < 1500


# -- strict parsing ------------------------------------------------------------------------------


def corrupt_digit(reply: str) -> str:
    index = reply.index(":") + 1
    digit = "1" if reply[index] != "1" else "2"
    return reply[:index] + digit + reply[index + 1 :]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (corrupt_digit, "checksum"),
        (lambda reply: spectrum_line([1000] * 2047, announced=2048), "announced 2048"),
        (lambda reply: spectrum_line([1000] * 2047), "2048 pixels"),
        (lambda reply: spectrum_line([70_000] * 2048), "full scale"),
        (lambda reply: spectrum_line([1000] * 2048).replace(";", ""), "expected 'N:v0"),
        (lambda reply: "OK", r"unexpected reply 'OK' \(expected 'N:v0"),
        (lambda reply: "ERR", r"unexpected reply 'ERR' \(expected 'ERR <code> <message>'\)"),
    ],
    ids=["checksum", "count", "pixels", "range", "no-checksum", "not-a-spectrum", "bare-err"],
)
def test_bad_spectra_are_protocol_errors_naming_command_and_port(
    driver: Spectrometer,
    simulator: SpectrometerSimulator,
    monkeypatch: pytest.MonkeyPatch,
    change: Callable[[str], str],
    message: str,
) -> None:
    driver.integration_time = 1
    tamper(simulator, monkeypatch, change)
    with pytest.raises(ProtocolError, match=message) as raised:
        driver.acquire()
    assert raised.value.command == "ACQ?"
    assert simulator.url in str(raised.value)


def test_the_instrument_refuses_bad_commands(driver: Spectrometer) -> None:
    query = driver.transport.query
    assert query("FOO").startswith("ERR 1 ")
    assert query("INT 0").startswith("ERR 3 ")
    assert query("INT 10001").startswith("ERR 3 ")
    assert query("INT abc").startswith("ERR 2 ")
    assert query("INT").startswith("ERR 2 ")
    assert query("PIXELS? 4").startswith("ERR 2 ")
    assert query("int?") == "100"  # keywords are case-insensitive


def test_instrument_errors_carry_code_and_message(
    driver: Spectrometer, simulator: SpectrometerSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(simulator, "handle", lambda command: "ERR 3 lamp too bright")
    with pytest.raises(DeviceReportedError, match="instrument error 3: lamp too bright"):
        driver.acquire()


# -- real hardware ---------------------------------------------------------------------------------


@pytest.fixture
def hardware(hardware_ports: dict[str, str]) -> Iterator[Spectrometer]:
    port = hardware_ports.get("spectrometer")
    if port is None:
        pytest.skip("no real spectrometer given (--hardware spectrometer=PORT)")
    spectrometer = Spectrometer(port)
    spectrometer.open()
    yield spectrometer
    spectrometer.close()


@pytest.mark.hardware
def test_hardware_identity_and_calibration(hardware: Spectrometer) -> None:
    assert hardware.identify().strip()
    wavelengths = hardware.wavelengths()
    assert len(wavelengths) == hardware.pixels > 0


@pytest.mark.hardware
def test_hardware_acquisition(hardware: Spectrometer) -> None:
    previous = hardware.integration_time
    try:
        hardware.integration_time = 10
        assert hardware.integration_time == 10
        spectrum = hardware.acquire()
        assert len(spectrum) == hardware.pixels
        assert len(hardware.dark()) == hardware.pixels
    finally:
        hardware.integration_time = previous
