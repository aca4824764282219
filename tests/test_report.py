"""The report writers on a partial run: exit code 4, the gaps named in results.json, the
terminal summary and the page's heading; --allow-untested turns the same ledger conformant."""

from __future__ import annotations

from typing import Any

from test_ledger import OTHER_MUST, all_gating_passed

from conformance.catalog.requirements import RequirementId
from conformance.domain.model import Cause, Check
from conformance.judging.causes import Answer
from conformance.judging.ledger import EXIT_CODES, Ledger
from conformance.reports.page import render
from conformance.reports.report import results, summary_lines
from conformance.wire.control import violation

TARGET = {"url": "http://127.0.0.1:9/verba/api"}
UNTESTED: tuple[RequirementId, RequirementId] = ("KC-AUTH-008", "KC-FLAG-002")


def partial_results(allow_untested: bool = False) -> dict[str, Any]:
    ledger = all_gating_passed(*UNTESTED)
    ledger.not_tested("no-control", [UNTESTED[1]], "no control URL")
    return results(ledger, "must", {}, TARGET, allow_untested)


def test_exit_codes_are_distinct() -> None:
    assert EXIT_CODES["partial"] == 4
    assert len(set(EXIT_CODES.values())) == len(EXIT_CODES)


def test_results_json_of_a_partial_run() -> None:
    summary = partial_results()["summary"]
    assert summary["verdict"] == "partial" and summary["exit_code"] == 4
    assert sorted(summary["untested_gating"]) == sorted(UNTESTED)
    assert summary["allow_untested"] is False and summary["failed_requirements"] == []


def test_the_terminal_summary_says_partial_and_names_the_gaps() -> None:
    lines = summary_lines(partial_results())
    assert lines[-1].startswith("VERDICT: PARTIAL") and "exit 4" in lines[-1]
    gaps = next(line for line in lines if line.startswith("PARTIAL:"))
    assert all(r in gaps for r in UNTESTED) and "--allow-untested" in gaps


def test_the_html_heading_says_partial_and_names_the_gaps() -> None:
    page = render(partial_results())
    heading = page[:page.index("<table")]
    assert '<span class="verdict partial">PARTIAL</span>' in heading
    assert all(r in heading for r in UNTESTED)


def test_allow_untested_is_conformant_and_still_lists_the_gaps() -> None:
    data = partial_results(allow_untested=True)
    summary = data["summary"]
    assert summary["verdict"] == "conformant" and summary["exit_code"] == 0
    assert sorted(summary["untested_gating"]) == sorted(UNTESTED) and summary["allow_untested"]
    lines = summary_lines(data)
    assert lines[-1].startswith("VERDICT: CONFORMANT")
    assert any(all(r in line for r in UNTESTED) and "--allow-untested" in line
               for line in lines)
    assert '<span class="verdict conformant">CONFORMANT</span>' in render(data)


def test_a_fully_tested_run_names_no_gap() -> None:
    ledger = all_gating_passed()
    ledger.record("extra", [Check(OTHER_MUST, "pass")])
    data = results(ledger, "should", {}, TARGET)
    assert data["summary"]["verdict"] == "conformant" and data["summary"]["untested_gating"] == []
    assert not any("not tested" in line or "PARTIAL" in line for line in summary_lines(data))


def test_the_time_of_each_property_search_is_shown() -> None:
    """The fuzzing's cost, like every search's, is bounded by --budget and reported."""
    ledger = Ledger()
    ledger.searches["suite/test_requests_fuzzed.py::test_fuzzed_requests_keep_the_invariants"] = {
        "examples": 104, "seconds": 2.04}
    data = results(ledger, "must", {}, {"url": None})
    assert data["summary"]["searches"]
    line = next(x for x in summary_lines(data) if x.startswith("property searches"))
    assert line == ("property searches (2.0 s of the budget): "
                    "fuzzed_requests_keep_the_invariants 104 in 2.0 s")
    assert "fuzzed_requests_keep_the_invariants 104 in 2.0 s" in render(data)


RESULTS_SCHEMA = "results.schema.json"


def test_results_json_of_a_failing_run_matches_its_schema() -> None:
    """Groups, their representative answers and evidence included (schemas/)."""
    ledger = all_gating_passed()
    answer: Answer = {"method": "GET", "url": "http://t/verba/api?apiKey=$KEEPCALL_API_KEY",
              "status": 200, "content_type": "text/xml", "error": None, "body": "<VerbaApi/>",
              "expected": "error"}
    ledger.record("case-1", [Check("KC-EXT-002", "fail", "expected set kept on a, target did: "
                                   "error", Cause.ERROR_FOR_CHANGE)], "curl x", answer=answer)
    data = results(ledger, "must", {"quick": True, "seed": 1}, TARGET)
    assert data["summary"]["groups"][0]["representative"]["answer"] == answer
    assert violation(RESULTS_SCHEMA, data) is None
    assert violation(RESULTS_SCHEMA, partial_results()) is None
    broken = {**data, "summary": {**data["summary"], "verdict": "fine"}}
    assert violation(RESULTS_SCHEMA, broken) == "$.summary.verdict: 'fine' is not one of " \
        "['conformant', 'not-conformant', 'partial', 'inconclusive']"
