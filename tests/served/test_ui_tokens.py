"""The web page and the API docs in headless Chromium against a demo lab that needs a
token: taken once from `/ui/?token=`, asked for with a form otherwise, kept for the
browser session, and sent on every request and on the event stream."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from browser import start_chromium, wait_for
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from served import ServedLab

ROOT = Path(__file__).parents[2]
DEMO = f"{ROOT / 'examples' / 'microscope.py'}:labthing"
KEY = "labthings-token"

pytestmark = pytest.mark.timeout(900)  # the first browser test may install Chromium


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ui-tokens")


@pytest.fixture(scope="module")
def token(folder: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "labthings", "token", "create", "operator", "--scope", "control"]
        + ["--data-dir", str(folder)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout.splitlines()[-1]


@pytest.fixture(scope="module")
def lab(folder: Path, token: str) -> Iterator[ServedLab]:
    served = ServedLab(DEMO, extra=["--data-dir", str(folder)])
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture(scope="module")
def thing_count(lab: ServedLab, token: str) -> int:
    index = requests.get(lab.url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    return len(index.json()["things"])


@pytest.fixture
def browser(chromium: None, tmp_path: Path) -> Iterator[Chrome]:
    """A fresh browser: nothing in its session storage."""
    driver = start_chromium(tmp_path / "profile")
    try:
        yield driver
    finally:
        driver.quit()


def wait_until_live(driver: Chrome, things: int) -> None:
    wait_for(driver, lambda d: d.find_element(By.ID, "connection").text == "live", timeout=15)
    wait_for(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".thing")) == things)


def latest_record(lab: ServedLab, token: str) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    records = requests.get(f"{lab.url}actions?limit=1", headers=headers, timeout=10).json()
    return dict(records[0])


def test_the_page_takes_the_token_once_from_its_address(
    browser: Chrome, lab: ServedLab, token: str, thing_count: int
) -> None:
    browser.get(f"{lab.url}ui/?token={token}")
    wait_until_live(browser, thing_count)  # the stream (?access_token=) and every fetch
    assert browser.current_url == f"{lab.url}ui/"  # gone from the address bar
    assert browser.execute_script(f"return sessionStorage.getItem('{KEY}')") == token
    assert not browser.find_elements(By.ID, "token-form")
    form = browser.find_element(By.CSS_SELECTOR, "#thing-light form[data-action='toggle']")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(browser, lambda _: form.find_element(By.CSS_SELECTOR, ".message a"))
    record = latest_record(lab, token)
    assert (record["action"], record["requestedBy"]) == ("toggle", "operator")
    browser.refresh()  # the session keeps it
    wait_until_live(browser, thing_count)


def test_without_a_token_the_page_asks_for_one(
    browser: Chrome, lab: ServedLab, token: str, thing_count: int
) -> None:
    browser.get(lab.url)  # a browser opening the root is sent to the page
    form = wait_for(browser, lambda d: d.find_element(By.ID, "token-form"))
    assert form.is_displayed()
    assert "needs an access token" in form.text
    assert not browser.find_element(By.ID, "load-error").is_displayed()
    assert not browser.find_elements(By.CSS_SELECTOR, ".thing")
    field = browser.find_element(By.ID, "token-input")
    assert field.get_attribute("type") == "password"
    field.send_keys("lt_not-a-token")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    form = wait_for(browser, lambda d: d.find_element(By.ID, "token-form"))
    wait_for(browser, lambda _: "did not accept" in form.text)
    browser.find_element(By.ID, "token-input").send_keys(token)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_until_live(browser, thing_count)
    assert not browser.find_elements(By.ID, "token-form")


def test_the_docs_use_the_sessions_token(
    browser: Chrome, lab: ServedLab, token: str, thing_count: int
) -> None:
    browser.get(f"{lab.url}docs/")
    wait_for(browser, lambda d: d.find_element(By.ID, "token-form"))  # none yet: asked for
    browser.get(f"{lab.url}ui/?token={token}")
    wait_until_live(browser, thing_count)
    browser.get(f"{lab.url}docs/")
    title = wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".info .title"), 20)
    assert "Demo microscope" in title.text
    wait_for(browser, lambda d: d.title == "Demo microscope - API docs")
    # Swagger's Authorize button shows the session's token as authorized...
    wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".auth-wrapper .authorize.locked"))
    # ...and "Try it out" sends it.
    operation = browser.find_element(By.ID, "operations-light-light_read_brightness")
    operation.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    wait_for(browser, lambda _: operation.find_element(By.CSS_SELECTOR, ".try-out__btn")).click()
    wait_for(browser, lambda _: operation.find_element(By.CSS_SELECTOR, ".execute")).click()
    status = wait_for(
        browser,
        lambda _: operation.find_element(
            By.CSS_SELECTOR, ".live-responses-table tr.response .response-col_status"
        ),
    )
    assert status.text.strip() == "200"
