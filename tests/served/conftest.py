"""Fixtures of the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from browser import ensure_chromium, live_page
from selenium.webdriver import Chrome
from served import ServedLab


@pytest.fixture(scope="session")
def chromium() -> None:
    """Chromium and its driver, installed if they are missing and we may (see browser.py)."""
    try:
        ensure_chromium()
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="module")
def page(
    lab: ServedLab, chromium: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Chrome]:
    """The web page of the module's `lab`, open in headless Chromium once its stream is live."""
    with live_page(lab.url, tmp_path_factory.mktemp("chromium-profile")) as driver:
        yield driver
