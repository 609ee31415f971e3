"""The web page shows a remote job's checks and its time remaining (headless Chromium)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import requests
from browser import wait_for
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from served import SUPPORT, ServedLab

pytestmark = pytest.mark.timeout(900)  # the first test may wait for Chromium's install


def checked_at_least(text: str, times: int) -> bool:
    """True if the page's timing line says "checked N times" with N >= `times`."""
    found = re.search(r"checked (\d+) times?", text)
    return found is not None and int(found.group(1)) >= times


@pytest.fixture(scope="module")
def lab() -> Iterator[ServedLab]:
    served = ServedLab(f"{SUPPORT / 'lab_remote.py'}:make_labthing")
    yield served
    served.stop()


def test_a_remote_job_shows_its_checks_and_time_remaining_until_it_ends(
    page: Chrome, lab: ServedLab
) -> None:
    body = {"seconds": 4, "check": "reporting_poll", "delay": 0.1, "max_interval": 0.3}
    response = requests.post(
        f"{lab.url}analyser/actions/analyse",
        json=body,
        headers={"Prefer": "respond-async"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    task = wait_for(page, lambda d: d.find_element(By.ID, f"task-{response.json()['id']}"))
    timing = task.find_element(By.CSS_SELECTOR, ".task-timing")
    # At least two checks: a busy machine may render the task only after its third.
    shown = wait_for(page, lambda _: checked_at_least(timing.text, 2) and timing.text)
    assert "left" in shown and "next at" in shown, shown
    wait_for(page, lambda _: task.get_dom_attribute("data-status") == "completed", timeout=15)
    assert timing.text == "" and not timing.is_displayed()
