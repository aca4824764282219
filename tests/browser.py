"""Headless Chromium for the report page: open a local HTML file, time it, look at its DOM.

Only Debian's browser and driver are used (``/usr/bin/chromium``, ``/usr/bin/chromedriver``),
named explicitly and with ``SE_OFFLINE=true``, so Selenium Manager never downloads a browser or
a driver: a test must not depend on the network. ``unavailable()`` says why a browser test cannot
run here (the tests skip with that reason; .ci/run installs both packages, so CI runs them).
tests/test_report_browser.py and benchmarks/bench_report.py share it.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # selenium is a dev extra: importing this module must not need it
    from selenium.webdriver.chrome.webdriver import WebDriver

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WINDOW = (1280, 1800)  # fixed, so screenshots and layout compare across runs
ARGUMENTS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             f"--window-size={WINDOW[0]},{WINDOW[1]}")
PAGE_LOAD_SECONDS = 60.0
# Every element that names a resource by URL, and those of them that would leave the machine.
NETWORK_REFERENCES_JS = """
return Array.from(document.querySelectorAll('[src],[href]'))
  .map(e => e.getAttribute('src') || e.getAttribute('href') || '')
  .filter(u => /^\\s*(https?:)?\\/\\//i.test(u));
"""
# What the browser did fetch while loading (CSS url(), fonts, ... included), by URL.
RESOURCES_JS = "return performance.getEntriesByType('resource').map(e => e.name);"
DOM_INTERACTIVE_JS = ("const n = performance.getEntriesByType('navigation')[0];"
                      "return n ? n.domInteractive : null;")


def unavailable() -> str | None:
    """Why headless Chromium cannot be driven here, or None when it can."""
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed (pip install -e '.[dev]')"
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        return (f"{' and '.join(missing)} missing: apt-get install chromium chromium-driver "
                "(.ci/run does)")
    return None


def start() -> WebDriver:
    """A headless Chromium of the system, never one Selenium Manager would fetch."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager: no download, no statistics
    os.environ["SE_AVOID_STATS"] = "true"
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ARGUMENTS:
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)),
                              options=options)
    driver.set_page_load_timeout(PAGE_LOAD_SECONDS)
    return driver


@contextmanager
def chromium() -> Iterator[WebDriver]:
    """``start()``, quit however the block ends: no browser outlives its user."""
    driver = start()
    try:
        yield driver
    finally:
        driver.quit()


def open_html(path: Path, driver: WebDriver | None = None) -> WebDriver:
    """Load the local file ``path`` (in ``driver``, or a new one) and return the driver."""
    driver = driver or start()
    driver.get(path.resolve().as_uri())
    return driver


def interactive_ms(driver: WebDriver, path: Path) -> float:
    """Time until interactive of one fresh load of ``path``: the navigation entry's
    ``domInteractive`` (ms from the start of navigation): the parser has read the whole
    document and run its inline script, so the filters answer from here on."""
    driver.get("about:blank")  # a new navigation each time, never a same-document no-op
    open_html(path, driver)
    value = driver.execute_script(DOM_INTERACTIVE_JS)
    if not isinstance(value, int | float):
        raise RuntimeError(f"no navigation timing for {path}: {value!r}")
    return float(value)


def network_references(driver: WebDriver) -> list[str]:
    """Every src or href of the loaded page that points to http(s) (or is scheme-relative)."""
    found = driver.execute_script(NETWORK_REFERENCES_JS)
    return [str(u) for u in found] if isinstance(found, list) else [repr(found)]


def fetched_resources(driver: WebDriver) -> list[str]:
    """Every resource the loaded page made the browser fetch (a self-contained page: none)."""
    found = driver.execute_script(RESOURCES_JS)
    return [str(u) for u in found] if isinstance(found, list) else [repr(found)]


def version(driver: WebDriver) -> str:
    """Which browser measured, for a benchmark's output."""
    return str(driver.capabilities.get("browserVersion", "unknown"))
