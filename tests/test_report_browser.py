"""The report page as a certifier sees it: two real runs, each page opened in headless Chromium.

A string search of the HTML (tests/test_page.py) cannot tell whether the filter script works or
what a reader sees first; a browser can. One conformant run and one with a fault of the
reference server (``unmark-record-ignored``: its own requirement, KC-UNMARK-002, leads the first
of two root-cause groups in docs/KILL-MATRIX.md) run once for the module, side by side. Every
check compares the page with the run's own results.json, never with a copy of the template.
Screenshots land in reports/ for a human to look at. Skips, with the reason, where Chromium or
chromedriver is missing (.ci/run installs both).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import browser
import pytest
from killmatrix import EMBEDDED_ENV, PREFERRED_QUICK, ROOT, CliRun, fault_args
from shared_runs import shared_run

from conformance.reference.faults import BY_NAME
from conformance.reports.page import PAGE_NAME

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver
    from selenium.webdriver.remote.webelement import WebElement

pytestmark = pytest.mark.system

FAULT = BY_NAME["unmark-record-ignored"]
ARGS = {"conformant": list(PREFERRED_QUICK), "faulty": fault_args(FAULT)}
KINDS = tuple(ARGS)
SCREENSHOTS = ROOT / "reports"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CliRun]:
    """Both runs at once (each in its own child), checked to have ended as they must; the
    conformant one is other tests' too (tests/shared_runs.py)."""
    reason = browser.unavailable()
    if reason:
        pytest.skip(reason)
    with ThreadPoolExecutor(len(ARGS)) as pool:
        done = dict(zip(ARGS, pool.map(lambda kind: shared_run(
            tmp_path_factory, ARGS[kind], env=EMBEDDED_ENV, in_process=True), ARGS),
                        strict=True))
    assert done["conformant"].exit_code == 0, done["conformant"].describe()
    assert done["faulty"].exit_code == 1, done["faulty"].describe()
    return done


@pytest.fixture(scope="module")
def driver(runs: dict[str, CliRun]) -> Iterator[WebDriver]:
    """One browser for the module (after the runs: it skips with them)."""
    with browser.chromium() as chromium:
        yield chromium


@dataclass(frozen=True)
class Shown:
    """One run's page, freshly loaded (no filter state carried over), and its results.json."""

    kind: str
    results: dict[str, Any]
    driver: WebDriver

    @property
    def conformant(self) -> bool:
        return self.kind == "conformant"

    def css(self, selector: str) -> list[WebElement]:
        from selenium.webdriver.common.by import By

        return list(self.driver.find_elements(By.CSS_SELECTOR, selector))

    def visible_rows(self) -> list[WebElement]:
        return [r for r in self.css("#requirements tr[data-verdict]") if r.is_displayed()]


@pytest.fixture(params=KINDS)
def shown(request: pytest.FixtureRequest, runs: dict[str, CliRun], driver: WebDriver) -> Shown:
    kind: str = request.param
    run = runs[kind]
    page = run.report_dir / PAGE_NAME
    assert run.results is not None and page.is_file(), f"{PAGE_NAME}: {run.describe()}"
    driver.get("about:blank")
    return Shown(kind, run.results, browser.open_html(page, driver))


def test_the_heading_says_the_verdict(shown: Shown) -> None:
    """What results.json says, as the template prints it (upper-cased)."""
    verdict = shown.results["summary"]["verdict"]
    heading = [e.text.strip() for e in shown.css("h1 .verdict")]
    assert heading == [verdict.upper()]
    assert (heading == ["CONFORMANT"]) is shown.conformant, heading


def test_the_first_group_is_the_first_root_cause(shown: Shown) -> None:
    """The first group on the page is results.json's first: its cause and first requirement;
    a conformant run shows no group at all."""
    groups = shown.results["summary"].get("groups") or []
    boxes = shown.css("#groups .group")
    if shown.conformant:
        assert groups == [] and boxes == []
        return
    assert groups and boxes, f"groups in results.json: {len(groups)}, on the page: {len(boxes)}"
    text = boxes[0].text
    assert groups[0]["cause"] in text and groups[0]["requirements"][0] in text, text[:500]
    assert FAULT.requirement in groups[0]["requirements"], groups[0]


def test_the_verdict_filter_shows_the_failures_only(shown: Shown) -> None:
    """Choosing "fail" leaves exactly the failed requirements of results.json; "pass" too, so
    a filter that hid every row could not pass for the conformant run (it has no failure)."""
    from selenium.webdriver.support.ui import Select

    requirements = shown.results["requirements"]
    assert len(shown.visible_rows()) == len(requirements)
    assert any(r["verdict"] == "fail" for r in requirements) is not shown.conformant
    for verdict in ("fail", "pass"):
        wanted = [r["id"] for r in requirements if r["verdict"] == verdict]
        # The options carry no value attribute: their text is their value.
        Select(shown.css("select#verdict")[0]).select_by_visible_text(verdict)
        rows = shown.visible_rows()
        assert {r.get_attribute("data-verdict") for r in rows} <= {verdict}
        assert len(rows) == len(wanted), (verdict, [r.text.split()[0] for r in rows])


def test_searching_an_id_leaves_its_row(shown: Shown) -> None:
    """The first failed requirement (or the catalog's first): exactly its row stays."""
    requirements = shown.results["requirements"]
    wanted = next((r["id"] for r in requirements if r["verdict"] == "fail"),
                  requirements[0]["id"])
    shown.css("input#search")[0].send_keys(wanted)
    assert [r.text.split()[0] for r in shown.visible_rows()] == [wanted]


def test_an_inline_svg_chart(shown: Shown) -> None:
    charts = shown.css("svg#chart")
    assert len(charts) == 1 and charts[0].is_displayed()


def test_nothing_is_fetched_from_the_network(shown: Shown) -> None:
    """Self-contained (a certifier may read it offline): no src or href leaves the file, and
    the browser fetched nothing from elsewhere (a CSS url() or font would show here)."""
    assert browser.network_references(shown.driver) == []
    assert [u for u in browser.fetched_resources(shown.driver)
            if not u.startswith(("file:", "data:"))] == []


def test_a_screenshot_for_the_reader(shown: Shown) -> None:
    """reports/report-<kind>.png: the first screen as the browser drew it."""
    SCREENSHOTS.mkdir(exist_ok=True)
    shot = SCREENSHOTS / f"report-{shown.kind}.png"
    assert shown.driver.save_screenshot(str(shot)), shot
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
