"""The compliance page: verdict and why first, root causes, the requirement table; rebuilt
from results.json alone by ``keepcall-conformance report``, escaped and self-contained."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_ledger import all_gating_passed

from conformance.domain.model import Cause, Check
from conformance.integration.cli import main
from conformance.reports.page import PAGE_NAME, chart, render, why
from conformance.reports.report import results

URL = "http://127.0.0.1:9/verba/api"
TARGET = {"url": URL, "embedded": False, "requests_sent": 12}
SUITE = {"quick": True, "seed": 7, "started": "2026-12-01T00:00:00Z", "duration_seconds": 1.5}


ANSWER = {"method": "GET", "url": URL, "status": 200, "reason": "OK", "content_type": "text/xml",
          "error": None, "body": "<script>alert(1)</script>", "expected": "set kept on a",
          "request_headers": {"accept": "*/*"}, "request_body": None,
          "headers": {"content-type": "text/xml"},
          "allowed": [{"outcome": "set kept on a", "readings": ["KC-EXT-004: exact match"]}],
          "findings": [{"requirement": "KC-XML-002",
                        "message": "schema-invalid at /VerbaApi/Response (line 3): missing"}],
          "flags": [{"call": "a", "before": "kept=0 protected=0 recording=0",
                     "after": "kept=0 protected=0 recording=1"}]}


def failing_results() -> dict[str, object]:
    ledger = all_gating_passed()
    ledger.record("case-1", [Check("KC-EXT-002", "fail", "expected set kept on a, target did: "
                                   "error", Cause.ERROR_FOR_CHANGE)], "curl one",
                  answer=ANSWER)
    return results(ledger, "must", {"name": "keepcall-conformance", "version": "0", "spec": "s",
                                    **SUITE}, TARGET)


def test_the_first_screen_says_the_verdict_and_why() -> None:
    page = render(failing_results())
    heading = page[:page.index("<h2>")]
    assert "NOT-CONFORMANT" in heading and "Failed: KC-EXT-002" in heading
    assert "First root cause: flags changed otherwise than the spec allows (1 cases)" in heading
    assert "Seed</td><td>7" in heading and "12 requests" in heading
    assert "<svg id=\"chart\"" in heading and "(1 failed)" in heading


def test_groups_show_the_representative_exchange_escaped() -> None:
    page = render(failing_results())
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    assert "curl one" in page and "an error where a change was expected" in page


def test_the_page_is_self_contained_and_filterable() -> None:
    page = render(failing_results())
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", page)
    assert 'id="verdict"' in page and 'id="level"' in page and 'id="search"' in page
    assert page.count('data-verdict="') == len(failing_results()["requirements"])  # type: ignore


@pytest.mark.parametrize(("summary", "said"), [
    ({"aborted": "target unreachable"}, "The run was aborted: target unreachable."),
    ({"internal_errors": ["boom"]}, "A suite error voids the verdict: boom."),
    ({"untested_gating": ["KC-AUTH-008"]}, "Not tested at the gating level: KC-AUTH-008."),
    ({}, "Every gating requirement was tested and passed."),
])
def test_why(summary: dict[str, object], said: str) -> None:
    assert why(summary) == said


def test_report_rebuilds_the_page_from_results_json(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    data = failing_results()
    (tmp_path / "results.json").write_text(json.dumps(data), encoding="utf-8")
    assert main(["report", str(tmp_path / "results.json")]) == 0
    assert (tmp_path / PAGE_NAME).read_text(encoding="utf-8") == render(data)
    (tmp_path / "bad.json").write_text('{"suite": {}}', encoding="utf-8")
    assert main(["report", str(tmp_path / "bad.json")]) == 2
    assert main(["report", str(tmp_path / "missing.json")]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 2 and all(e.startswith("keepcall-conformance: error: ") for e in errors)


def test_a_group_shows_request_response_allowed_findings_and_flags() -> None:
    """What a reader needs to see the bug without rerunning: both sides of the exchange, what
    the oracle allowed and why, the schema error with path and line, the flags that moved."""
    page = render(failing_results())
    group = page[page.index('<div class="group">'):page.index('<h2 id="observations"')
                 if '<h2 id="observations"' in page else page.index("<h2>Requirements")]
    assert "GET " + URL in group and "accept: */*" in group and "HTTP 200 OK" in group
    assert "content-type: text/xml" in group
    assert "set kept on a" in group and "KC-EXT-004: exact match" in group
    assert "schema-invalid at /VerbaApi/Response (line 3)" in group
    assert "kept=0 protected=0 recording=0" in group and "recording=1" in group


def test_the_chart_counts_every_requirement_once() -> None:
    data = failing_results()
    requirements = data["requirements"]
    drawn = chart(requirements)  # type: ignore[arg-type]
    counted = sum(bar["count"] for row in drawn["rows"] for bar in row["bars"])
    assert counted == len(requirements)  # type: ignore[arg-type]
    ext = next(row for row in drawn["rows"] if row["family"] == "KC-EXT")
    assert ext["bars"][0]["verdict"] == "fail" and "1 fail" in ext["label"]


def test_observations_have_their_own_section() -> None:
    ledger = all_gating_passed()
    ledger.record("case-2", [Check("KC-HTTP-005", "observed", "200 with the error body")])
    page = render(results(ledger, "must", {"name": "n", "version": "0", "spec": "s"}, TARGET))
    section = page[page.index('<h2 id="observations"'):page.index("<h2>Requirements")]
    assert "KC-HTTP-005" in section and "200 with the error body (1)" in section


def test_why_names_the_first_root_causes_requirements_first() -> None:
    """The fault's own clause leads the sentence, not the catalog's first failed one."""
    summary = {"failed_requirements": ["KC-ACTION-001", "KC-UNMARK-003"],
               "groups": [{"cause": "c", "cases": 3, "requirements": ["KC-UNMARK-003"]}]}
    assert why(summary).startswith("Failed: KC-UNMARK-003, KC-ACTION-001.")
