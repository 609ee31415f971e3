"""Fixtures shared by the HTTP and end-to-end tests."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from lab_for_tests import make_labthing

from labthings import LabThing
from labthings.core.datadir import DATA_DIR_ENV
from labthings.core.tasks.workers import WORKERS


@pytest.fixture(scope="session", autouse=True)
def own_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A data folder for the whole run ($LABTHINGS_DATA_DIR, which the servers the tests
    start inherit): the tests never read or write the tokens of the user running them."""
    folder = tmp_path_factory.mktemp("data-dir")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(DATA_DIR_ENV, str(folder))
        yield folder


# How long a module's task threads may take to end after its last test: the longest an
# in-process test action ignores cancelling (`stubborn`) is well under it.
_TASK_THREAD_GRACE_S = 15.0


@pytest.fixture(scope="module", autouse=True)
def no_task_thread_outlives_its_module() -> Iterator[None]:
    """Fail a module whose task threads still run after it: one that never stops (an
    action ignoring cancel with a fuzzer's huge input) would slow every later test."""
    yield
    deadline = time.monotonic() + _TASK_THREAD_GRACE_S
    while True:
        left = WORKERS.running()
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not left, f"task threads still running after the module: {left}"


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
