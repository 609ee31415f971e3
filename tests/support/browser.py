"""Headless Chromium for the browser tests: Debian's `chromium` and `chromium-driver`,
driven by Selenium, offline (no Selenium Manager, no browser download)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from apt_packages import apt_install
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

T = TypeVar("T")

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# Without the background-networking flags Chromium keeps calling Google's hosts, which a
# closed network refuses; a fresh profile keeps runs independent.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1366,900",
]


def _missing() -> list[str]:
    return [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.is_file()]


def ensure_chromium(timeout: float = 600) -> None:
    """Install Debian's chromium and chromium-driver if they are missing and we can (root
    with apt-get); raise RuntimeError saying why when they still cannot be had."""
    if not _missing():
        return
    notes = apt_install(["chromium", "chromium-driver"], timeout)
    if missing := _missing():
        raise RuntimeError(
            f"the browser tests need Debian's chromium and chromium-driver; missing "
            f"{', '.join(missing)} ({notes or 'apt-get did not provide them'})"
        )


def start_chromium(profile: Path) -> webdriver.Chrome:
    """A headless Chromium with a fresh profile in `profile`, keeping the browser's console
    log for `driver.get_log("browser")`."""
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # A driver path given to Service means Selenium Manager is never asked for one.
    service = Service(executable_path=str(CHROMEDRIVER), log_output=subprocess.DEVNULL)
    return webdriver.Chrome(service=service, options=options)


def wait_for(
    driver: webdriver.Chrome, condition: Callable[[webdriver.Chrome], T], timeout: float = 10
) -> T:
    """`condition`'s first truthy result, polled every 50 ms for at most `timeout` s."""
    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition)


@contextmanager
def live_page(url: str, profile: Path) -> Iterator[webdriver.Chrome]:
    """Chromium on the web page at `url`, once it says its event stream is live; quit
    afterwards."""
    driver = start_chromium(profile)
    try:
        driver.get(url)
        wait_for(driver, lambda d: d.find_element(By.ID, "connection").text == "live")
        yield driver
    finally:
        driver.quit()
