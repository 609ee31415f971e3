"""Fixtures shared by the HTTP and end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from lab_for_tests import make_labthing

from labthings import LabThing


@pytest.fixture
def labthing() -> Iterator[LabThing]:
    """A fresh LabThing with the test Things, opened, and closed afterwards."""
    server = make_labthing(shutdown_wait=2.0)
    with server:
        yield server


@pytest.fixture
def client(labthing: LabThing) -> FlaskClient:
    """A Flask test client of `labthing`."""
    return labthing.create_app().test_client()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--hardware",
        action="append",
        default=[],
        metavar="KIND=PORT",
        help="also run the hardware tests of KIND against a real instrument on PORT, "
        "e.g. --hardware stage=/dev/ttyUSB0 (kinds: psu, stage, spectrometer)",
    )


@pytest.fixture
def hardware_ports(request: pytest.FixtureRequest) -> dict[str, str]:
    """KIND -> PORT from `--hardware` options; hardware tests skip kinds not given."""
    ports: dict[str, str] = {}
    for option in request.config.getoption("--hardware"):
        kind, separator, port = option.partition("=")
        if not separator or not port:
            raise pytest.UsageError(f"--hardware takes KIND=PORT, not {option!r}")
        ports[kind] = port
    return ports
