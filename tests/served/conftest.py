"""Fixtures of the end-to-end tests."""

from __future__ import annotations

import pytest
from browser import ensure_chromium


@pytest.fixture(scope="session")
def chromium() -> None:
    """Chromium and its driver, installed if they are missing and we may (see browser.py)."""
    try:
        ensure_chromium()
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)
