"""The web page in headless Chromium, against the demo lab served by `labthings serve`.

Chromium comes from Debian (`chromium`, `chromium-driver`): the `chromium` fixture installs
it when it is missing and we may (root, apt-get), and fails, saying why, when it cannot.
Screenshots land in artifacts/ui-desktop.png and artifacts/ui-phone.png.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from browser import start_chromium, wait_for
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from served import ServedLab

ROOT = Path(__file__).parents[2]
ARTIFACTS = ROOT / "artifacts"
DEMO = f"{ROOT / 'examples' / 'microscope.py'}:labthing"

# The first test may wait for apt-get to install Chromium; every wait below is bounded.
pytestmark = pytest.mark.timeout(900)

# Runs before the page's own scripts: notes every EventSource the page constructs.
COUNT_STREAMS = """
window.streamsOpened = [];
window.EventSource = class extends EventSource {
  constructor(url, options) {
    super(url, options);
    window.streamsOpened.push(this.url);
  }
};
"""


@pytest.fixture(scope="module")
def lab() -> Iterator[ServedLab]:
    served = ServedLab(DEMO)
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture(scope="module")
def things(lab: ServedLab) -> dict[str, Any]:
    """The Thing Description of every Thing of the demo, by name."""
    index = api(lab, "GET", "", headers={"Accept": "application/json"}).json()
    return {name: api(lab, "GET", f"{name}/").json() for name in index["things"]}


@pytest.fixture(scope="module")
def page(
    lab: ServedLab,
    things: dict[str, Any],
    chromium: None,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Chrome]:
    """The page, opened the way a person would: the server's root URL."""
    driver = start_chromium(tmp_path_factory.mktemp("chromium-profile"))
    try:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": COUNT_STREAMS})
        driver.get(lab.url)
        wait_for(driver, lambda d: d.find_element(By.ID, "connection").text == "live")
        wait_for(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".thing")) == len(things))
        yield driver
    finally:
        driver.quit()


def api(lab: ServedLab, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, lab.url + path, timeout=10, **kwargs)


def start_from_form(page: Chrome, thing: str, action: str, **arguments: Any) -> WebElement:
    """Fill in `action`'s form, press its Start button, and return the task's list item."""
    form = page.find_element(By.CSS_SELECTOR, f"#thing-{thing} form[data-action='{action}']")
    for name, value in arguments.items():
        field = form.find_element(By.ID, f"{thing}-{action}-{name}")
        field.clear()
        field.send_keys(str(value))
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    link = wait_for(page, lambda _: form.find_element(By.CSS_SELECTOR, ".message a"))
    task_id = link.get_dom_attribute("href").removeprefix("#")
    return wait_for(page, lambda d: d.find_element(By.ID, task_id))


def property_control(page: Chrome, thing: str, name: str) -> WebElement:
    return page.find_element(By.ID, f"prop-{thing}-{name}")


def test_the_root_url_opens_the_page_with_every_thing(page: Chrome, things: dict[str, Any]) -> None:
    assert page.current_url.endswith("/ui/")
    assert page.title == "Demo microscope"
    cards = page.find_elements(By.CSS_SELECTOR, ".thing")
    assert [card.get_dom_attribute("data-thing") for card in cards] == list(things)
    for name, td in things.items():
        for prop, affordance in td["properties"].items():
            control = property_control(page, name, prop)
            assert control.tag_name == ("output" if affordance["readOnly"] else "input"), prop
        # The forms come from the input schemas: defaults filled in, required marked.
        for action, affordance in td["actions"].items():
            schema = affordance.get("input", {})
            for arg, arg_schema in schema.get("properties", {}).items():
                field = page.find_element(By.ID, f"{name}-{action}-{arg}")
                assert field.get_property("required") is (arg in schema.get("required", []))
                if "enum" in arg_schema:
                    assert field.tag_name == "select"
                if arg_schema.get("type") in ("number", "integer") and "default" in arg_schema:
                    assert float(field.get_property("value")) == arg_schema["default"]
    exposure = property_control(page, "camera", "exposure")
    wait_for(page, lambda _: exposure.get_property("value") == "0.2")


def test_silent_read_only_properties_are_re_read_and_nothing_else(
    page: Chrome, things: dict[str, Any]
) -> None:
    """The thermometer never notifies: its reading is re-read every few seconds, and only
    read-only properties are (the others come on the stream). Before any task is started:
    a Thing's properties are all re-read after one of its tasks."""
    temperature = property_control(page, "thermometer", "temperature")
    before = temperature.text
    since = page.execute_script("return performance.now()")
    wait_for(page, lambda _: temperature.text != before, timeout=12)
    read = page.execute_script(
        "return performance.getEntriesByType('resource')"
        ".filter((e) => e.startTime >= arguments[0]).map((e) => new URL(e.name).pathname)",
        since,
    )
    writable = {
        f"/{name}/properties/{prop}"
        for name, td in things.items()
        for prop, affordance in td["properties"].items()
        if not affordance["readOnly"]
    }
    assert "/thermometer/properties/temperature" in read
    assert writable.isdisjoint(read), read


def test_an_action_started_from_its_form_shows_progress_then_its_output(
    page: Chrome, lab: ServedLab
) -> None:
    task = start_from_form(page, "camera", "acquire", averages=10)  # 10 frames of 0.2 s
    bar = task.find_element(By.TAG_NAME, "progress")
    seen: list[float] = []

    def finished(_: Chrome) -> bool:
        done = task.get_dom_attribute("data-status") == "completed"  # then the bar: at 100
        value = bar.get_dom_attribute("value")
        if value is not None and (not seen or float(value) != seen[-1]):
            seen.append(float(value))
        return done

    wait_for(page, finished, timeout=15)
    assert len(seen) >= 4, seen  # the bar moved, several times...
    assert seen == sorted(seen) and seen[-1] == 100  # ...forwards only, to the end
    record = api(lab, "GET", f"actions/{task.get_dom_attribute('data-id')}").json()
    shown = task.find_element(By.CSS_SELECTOR, ".result-value").text
    assert json.loads(shown) == pytest.approx(record["output"])
    assert task.find_element(By.CSS_SELECTOR, ".status").text == "completed"
    assert not task.find_element(By.CSS_SELECTOR, ".cancel").is_displayed()
    frames = api(lab, "GET", "camera/properties/frames_taken").json()
    wait_for(page, lambda _: property_control(page, "camera", "frames_taken").text == str(frames))
    # Each frame was a Thing event (frame_ready), shown on the camera's card: newest first.
    events = page.find_elements(By.CSS_SELECTOR, "#thing-camera .thing-events li")
    assert 1 <= len(events) <= 5
    assert events[0].get_dom_attribute("data-event") == "frame_ready"
    assert "frame_ready" in events[0].text and "frame = 10," in events[0].text


def test_a_running_action_is_cancelled_with_its_button(page: Chrome, lab: ServedLab) -> None:
    task = start_from_form(page, "camera", "acquire", averages=100)  # 20 s unless cancelled
    cancel = task.find_element(By.CSS_SELECTOR, ".cancel")
    wait_for(page, lambda _: cancel.is_displayed() and cancel.is_enabled())
    assert cancel.accessible_name == "Cancel camera.acquire"
    cancel.click()
    wait_for(page, lambda _: task.get_dom_attribute("data-status") == "cancelled")
    assert not cancel.is_displayed()
    task_id = task.get_dom_attribute("data-id")
    assert api(lab, "GET", f"actions/{task_id}").json()["status"] == "cancelled"


def test_a_property_changed_elsewhere_updates_on_the_page(page: Chrome, lab: ServedLab) -> None:
    """Writable properties are never re-read on a timer: a change comes on the stream."""
    exposure = property_control(page, "camera", "exposure")
    colour = property_control(page, "light", "colour")
    try:
        assert api(lab, "PUT", "camera/properties/exposure", json=0.3).status_code == 200
        assert api(lab, "PUT", "light/properties/colour", json="blue").status_code == 200
        wait_for(page, lambda _: exposure.get_property("value") == "0.3", timeout=2)
        wait_for(page, lambda _: colour.get_property("value") == "blue", timeout=2)
    finally:
        api(lab, "PUT", "camera/properties/exposure", json=0.2)
        api(lab, "PUT", "light/properties/colour", json="white")
    wait_for(page, lambda _: colour.get_property("value") == "white", timeout=2)


def test_one_event_stream_serves_the_whole_page(page: Chrome, lab: ServedLab) -> None:
    """A browser holds at most 6 connections per host: the page uses one for its stream."""
    opened = page.execute_script("return window.streamsOpened")
    assert 1 <= len(opened) <= 2, opened
    assert {url.split("?")[0] for url in opened} == {lab.url + "events"}


def test_a_bad_property_value_shows_the_servers_message(page: Chrome, lab: ServedLab) -> None:
    brightness = property_control(page, "light", "brightness")
    message = page.find_element(By.ID, "prop-light-brightness-message")
    brightness.clear()
    brightness.send_keys("500", Keys.ENTER)
    wait_for(page, lambda _: "less than or equal to 100" in message.text)
    assert brightness.get_dom_attribute("aria-invalid") == "true"
    assert api(lab, "GET", "light/properties/brightness").json() == 50

    # While an action holds the instrument, a write is refused with a 409: shown too.
    blink = api(
        lab,
        "POST",
        "light/actions/blink",
        json={"times": 20, "mode": "slow"},
        headers={"Prefer": "respond-async"},
    ).json()
    try:
        brightness.clear()
        brightness.send_keys("30", Keys.ENTER)
        wait_for(page, lambda _: "busy" in message.text)
    finally:
        api(lab, "DELETE", f"actions/{blink['id']}")
    brightness.clear()
    brightness.send_keys("30", Keys.ENTER)
    wait_for(page, lambda _: message.text == "" and brightness.get_property("value") == "30")
    assert brightness.get_dom_attribute("aria-invalid") is None
    api(lab, "PUT", "light/properties/brightness", json=50)


def save_full_page(page: Chrome, path: Path, width: int, mobile: bool) -> int:
    """Lay the page out `width` CSS pixels wide, save all of it as a PNG, and return how
    far it scrolls sideways (0 when nothing sticks out)."""
    metrics = {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": mobile}
    page.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    try:
        page.execute_script("document.activeElement.blur(); scrollTo(0, 0)")
        wait_for(page, lambda d: d.execute_script("return innerWidth") == width)
        overflow: int = page.execute_script(
            "const e = document.documentElement; return e.scrollWidth - e.clientWidth"
        )
        # A viewport as tall as the page, so that the picture is the page as laid out.
        height = page.execute_script("return document.documentElement.scrollHeight")
        page.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {**metrics, "height": height})
        clip = {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}
        shot = page.execute_cdp_cmd(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
        )
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return overflow
    finally:
        page.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_the_page_fits_a_laptop_and_a_phone(page: Chrome) -> None:
    assert save_full_page(page, ARTIFACTS / "ui-desktop.png", 1366, mobile=False) == 0
    assert save_full_page(page, ARTIFACTS / "ui-phone.png", 375, mobile=True) == 0


def test_the_console_shows_no_errors(page: Chrome) -> None:
    """Nothing went wrong in the page: the only failed requests are the 422 and the 409
    that the tests above provoked on purpose."""
    provoked = re.compile(r"/light/properties/brightness - Failed to load resource: .* (422|409)")
    errors = [
        entry
        for entry in page.get_log("browser")
        if entry["level"] in ("SEVERE", "WARNING")
        and not (entry["source"] == "network" and provoked.search(entry["message"]))
    ]
    assert errors == []
