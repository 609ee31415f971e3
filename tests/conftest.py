"""Fixtures shared by the HTTP and end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from lab_for_tests import make_labthing

from labthings import LabThing
from labthings.core.datadir import DATA_DIR_ENV


@pytest.fixture(scope="session", autouse=True)
def own_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A data folder for the whole run ($LABTHINGS_DATA_DIR, which the servers the tests
    start inherit): the tests never read or write the tokens of the user running them."""
    folder = tmp_path_factory.mktemp("data-dir")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(DATA_DIR_ENV, str(folder))
        yield folder


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
