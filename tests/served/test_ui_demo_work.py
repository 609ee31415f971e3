"""The web page follows the demo's external program as it runs: its output lines arrive
in the task's log, with its progress and time remaining, before it ends (headless
Chromium)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import requests
from browser import wait_for
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from served import ROOT, ServedLab

pytestmark = pytest.mark.timeout(900)  # the first test may wait for Chromium's install


@pytest.fixture(scope="module")
def lab() -> Iterator[ServedLab]:
    served = ServedLab(f"{ROOT / 'examples' / 'microscope.py'}:labthing")
    yield served
    served.stop()


def test_a_programs_output_shows_in_the_page_while_it_runs(page: Chrome, lab: ServedLab) -> None:
    response = requests.post(
        f"{lab.url}analysis/actions/fit_peak",
        json={"bootstrap": 40, "delay": 0.1},
        headers={"Prefer": "respond-async"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    task_id = f"task-{response.json()['id']}"

    def task_shows(condition: Callable[[WebElement], bool]) -> bool:
        """`condition` of the task's element as it is now (the page re-renders it)."""
        try:
            return condition(page.find_element(By.ID, task_id))
        except (NoSuchElementException, StaleElementReferenceException):
            return False

    def running_with_output(task: WebElement) -> bool:
        lines = task.find_elements(By.CSS_SELECTOR, ".log-lines li")
        return task.get_dom_attribute("data-status") == "running" and any(
            "bootstrap" in (line.get_attribute("textContent") or "") for line in lines
        )

    def time_left(task: WebElement) -> bool:
        timing = task.find_element(By.CSS_SELECTOR, ".task-timing")
        return "left" in (timing.get_attribute("textContent") or "")

    wait_for(page, lambda _: task_shows(running_with_output))
    wait_for(page, lambda _: task_shows(time_left))
    wait_for(
        page,
        lambda _: task_shows(lambda task: task.get_dom_attribute("data-status") == "completed"),
        timeout=30,
    )
