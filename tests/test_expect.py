"""Expected failures: still failing is accepted; a stale entry (passes now, expired, matching
nothing) fails the run; a failure nobody expected still fails it; a broken run stays
inconclusive. The results dicts come from the real ledger and report writer and are held to
schemas/results.schema.json, before and after ``apply``."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from conformance.catalog.requirements import CATALOG, Gate, RequirementId, gating
from conformance.domain.model import Check
from conformance.judging.ledger import Ledger
from conformance.reports.expect import Expected, ExpectError, apply, load, parse, summary_lines
from conformance.reports.report import results

SCHEMA = Path(__file__).parents[1] / "schemas" / "results.schema.json"
STAGING = "https://staging.example/verba/api"
TODAY = date(2026, 12, 1)
XML: RequirementId = "KC-XML-002"  # MUST
AUTH: RequirementId = "KC-AUTH-006"  # MUST
SHOULD: RequirementId = "KC-TYPE-004"
OBSERVE: RequirementId = "KC-PARAM-001"
XML_CASES = ("lookup|status=ongoing|rt=XML|GET", "lookup|status=next|rt=XML|POST")


@cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))


def valid(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` if it matches schemas/results.schema.json (the helper stays honest)."""
    _validator().validate(data)
    return dict(data)


def make_results(fails: Mapping[RequirementId, Sequence[str]] | None = None, *,
                 untested: Sequence[RequirementId] = (),
                 observed: Mapping[RequirementId, Sequence[str]] | None = None,
                 level: Gate = "must", url: str | None = STAGING, version: str = "1.0.0",
                 aborted: str | None = None, internal_errors: Sequence[str] = (),
                 allow_untested: bool = False, drop: Sequence[str] = ()) -> dict[str, Any]:
    """A results.json dict from the real ledger and writer: every MUST and SHOULD passes and
    every OBSERVE reads "rejected", except the requirements ``fails`` lists (failed in the
    cases given), ``untested`` (never checked), ``observed`` (other readings) and ``drop``
    (absent, as in another catalog version)."""
    fails, observed = fails or {}, observed or {}
    ledger = Ledger()
    ledger.record("all", [Check(r, "pass") for r in sorted(gating("should"))
                          if r not in fails and r not in untested])
    for rid, cases in fails.items():
        for case in cases:
            ledger.record(case, [Check(rid, "fail", f"{case} broke {rid}")], f"curl {case}")
    for r in CATALOG:
        if r.level == "OBSERVE" and r.id not in untested:
            for reading in observed.get(r.id, ("rejected",)):
                ledger.record(f"observe {r.id} {reading}", [Check(r.id, "observed", reading)])
    ledger.aborted = aborted
    ledger.internal_errors.extend(internal_errors)
    data = results(ledger, level, {"version": version, "level": level, "quick": True,
                                   "seed": 1}, {"url": url, "embedded": False},
                   allow_untested)
    data["requirements"] = [r for r in data["requirements"] if r["id"] not in drop]
    return valid(data)


def entry(requirement: str = XML, expires: date = date(2027, 1, 31), cases: str | None = None,
          ) -> Expected:
    return Expected(requirement, "vendor bug 123", expires, "https://tracker.example/123",
                    cases)


def summary(data: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = data["summary"]
    return result


def row(data: Mapping[str, Any], rid: str) -> dict[str, Any]:
    return next(r for r in data["requirements"] if r["id"] == rid)


# --- the file -------------------------------------------------------------------------------

FILE = """
[[expected]]
requirement = "KC-XML-002"
reason = "vendor bug 123: wrong root element"
link = "https://tracker.example/123"
expires = 2027-01-31

[[expected]]
requirement = "KC-AUTH-006"
reason = "vendor bug 124"
expires = "2027-02-28"
cases = "tokens/"
"""


def test_a_file_loads_into_entries(tmp_path: Path) -> None:
    path = tmp_path / "expected.toml"
    path.write_text(FILE, encoding="utf-8")
    assert load(path) == [
        Expected("KC-XML-002", "vendor bug 123: wrong root element", date(2027, 1, 31),
                 "https://tracker.example/123"),
        Expected("KC-AUTH-006", "vendor bug 124", date(2027, 2, 28), None, "tokens/")]


def test_an_empty_file_expects_nothing() -> None:
    assert parse("", "empty.toml") == []


_GOOD = 'requirement = "KC-XML-002"\nreason = "r"\nexpires = 2027-01-31\n'
# (the file's text, the end of the one-line error after "bad.toml: ")
BAD_FILES: tuple[tuple[str, str], ...] = (
    ('[[expected]]\nrequirement = "KC-XML-999"\nreason = "r"\nexpires = 2027-01-31\n',
     "entry 0 ([[expected]] number 1): unknown requirement ID 'KC-XML-999'"),
    ('[[expected]]\nrequirement = "KC-XML-002"\nexpires = 2027-01-31\n',
     "entry 0 ([[expected]] number 1): missing 'reason'"),
    ('[[expected]]\nrequirement = "KC-XML-002"\nreason = "r"\n',
     "entry 0 ([[expected]] number 1): missing 'expires'"),
    ('[[expected]]\nrequirement = "KC-XML-002"\nreason = "r"\nexpires = "2027-13-01"\n',
     "entry 0 ([[expected]] number 1): bad date in 'expires': '2027-13-01' "
     "(write it as 2027-01-31)"),
    ('[[expected]]\nrequirement = "KC-XML-002"\nreason = "r"\nexpires = 2027-01-31T10:00:00\n',
     "entry 0 ([[expected]] number 1): 'expires' must be a date, not a date-time "
     "(2027-01-31T10:00:00)"),
    ('[[expected]]\n' + _GOOD + 'ticket = "123"\n',
     "entry 0 ([[expected]] number 1): unknown key 'ticket' "
     "(known: cases, expires, link, reason, requirement)"),
    ('[[expected]]\n' + _GOOD + '[[expected]]\n' + _GOOD,
     "entry 1 ([[expected]] number 2): duplicates entry 0 (KC-XML-002)"),
    ('[[expected]]\n' + _GOOD + 'cases = "x"\n[[expected]]\n' + _GOOD + 'cases = "x"\n',
     "entry 1 ([[expected]] number 2): duplicates entry 0 (KC-XML-002, cases 'x')"),
    ('[[expected]]\nrequirement = "KC-PARAM-001"\nreason = "r"\nexpires = 2027-01-31\n',
     "entry 0 ([[expected]] number 1): KC-PARAM-001 is OBSERVE: it is never failed, so "
     "never expected to"),
    ('[[expected]]\n' + _GOOD.replace('"r"', '" "'),
     "entry 0 ([[expected]] number 1): 'reason' must be a non-empty string, not ' '"),
    ('[[expect]]\n' + _GOOD,
     "unknown top-level key 'expect' (write entries as [[expected]])"),
    ('expected = "KC-XML-002"\n', "'expected' must be an array of tables ([[expected]])"),
)


@pytest.mark.parametrize(("text", "error"), BAD_FILES)
def test_a_bad_file_is_one_line_naming_file_entry_and_problem(
        tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ExpectError) as raised:
        load(path)
    assert str(raised.value) == f"{path}: {error}"
    assert "\n" not in str(raised.value) and isinstance(raised.value, ValueError)


def test_not_toml_and_no_file_are_one_line_errors(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[[expected]\n", encoding="utf-8")
    with pytest.raises(ExpectError, match=rf"^{path}: not TOML: "):
        load(path)
    with pytest.raises(ExpectError, match=r"missing\.toml: cannot read: "):
        load(tmp_path / "missing.toml")


# --- applying it ----------------------------------------------------------------------------

def test_a_failure_still_failing_as_expected_does_not_fail_the_run() -> None:
    data = make_results({XML: XML_CASES})
    assert summary(data)["verdict"] == "not-conformant"
    judged = valid(apply(data, [entry()], TODAY))
    assert (summary(judged)["verdict"], summary(judged)["exit_code"]) == ("conformant", 0)
    assert summary(judged)["failed_requirements"] == [XML]  # the run's own list is kept
    assert summary(judged)["new_failures"] == []
    assert summary(judged)["stale_expectations"] == []
    [expected] = summary(judged)["expected_failures"]
    assert expected == {"requirement": XML, "reason": "vendor bug 123",
                        "link": "https://tracker.example/123", "expires": "2027-01-31",
                        "cases": None, "status": "still-failing",
                        "message": "KC-XML-002 still fails as expected",
                        "matched_cases": list(XML_CASES)}
    assert row(judged, XML)["verdict"] == "fail"
    assert row(judged, XML)["expected"] == {"reason": "vendor bug 123",
                                            "link": "https://tracker.example/123",
                                            "expires": "2027-01-31"}
    assert summary(data)["verdict"] == "not-conformant" and "expected" not in row(data, XML)


def test_an_entry_that_passes_now_fails_the_run() -> None:
    judged = valid(apply(make_results(), [entry()], TODAY))
    assert (summary(judged)["verdict"], summary(judged)["exit_code"]) == ("not-conformant", 1)
    [stale] = summary(judged)["stale_expectations"]
    assert (stale["status"], stale["message"]) == ("passes", "KC-XML-002 passes now: remove it")
    assert summary(judged)["expected_failures"] == []
    assert "expected" not in row(judged, XML)


def test_an_expired_entry_fails_the_run_and_its_last_day_does_not() -> None:
    data = make_results({XML: XML_CASES})
    last_day = apply(data, [entry(expires=TODAY)], TODAY)
    assert summary(last_day)["verdict"] == "conformant"
    judged = valid(apply(data, [entry(expires=date(2026, 11, 30))], TODAY))
    assert (summary(judged)["verdict"], summary(judged)["exit_code"]) == ("not-conformant", 1)
    [stale] = summary(judged)["stale_expectations"]
    assert stale["message"] == ("KC-XML-002 expired on 2026-11-30: fix it, or renew it with a "
                                "reason")
    assert summary(judged)["new_failures"] == []  # listed once: as stale, not as new
    assert "expected" not in row(judged, XML)


def test_an_expired_entry_fails_the_run_even_where_it_was_not_tested() -> None:
    judged = apply(make_results(untested=[XML]), [entry(expires=date(2026, 1, 1))], TODAY)
    assert summary(judged)["verdict"] == "not-conformant"
    assert [s["status"] for s in summary(judged)["stale_expectations"]] == ["expired"]


def test_a_case_selector_matching_no_failure_fails_the_run() -> None:
    data = make_results({XML: XML_CASES})
    judged = valid(apply(data, [entry(cases="tokens/")], TODAY))
    assert (summary(judged)["verdict"], summary(judged)["exit_code"]) == ("not-conformant", 1)
    [stale] = summary(judged)["stale_expectations"]
    assert stale["status"] == "no-match"
    assert stale["message"] == ("KC-XML-002: cases 'tokens/' matches no failure (failing "
                                f"cases: {', '.join(XML_CASES)})")
    assert summary(judged)["new_failures"] == [XML]  # the failure itself is nobody's


def test_a_selector_covers_only_the_cases_it_matches() -> None:
    data = make_results({XML: XML_CASES})
    matching = apply(data, [entry(cases="status=ongoing")], TODAY)
    assert summary(matching)["verdict"] == "not-conformant"
    assert summary(matching)["new_failures"] == [XML]
    assert summary(matching)["expected_failures"][0]["matched_cases"] == [XML_CASES[0]]
    assert "expected" not in row(matching, XML)
    assert any(line.startswith("NEW FAIL") and f"no entry matches {XML_CASES[1]}" in line
               for line in summary_lines(matching))
    both = apply(data, [entry(cases="status=ongoing"), entry(cases="status=next")], TODAY)
    assert (summary(both)["verdict"], summary(both)["new_failures"]) == ("conformant", [])
    assert row(both, XML)["expected"]["reason"] == "vendor bug 123"


@pytest.mark.parametrize(("broken", "why"), [
    ({"aborted": "target unreachable"}, "aborted"),
    ({"internal_errors": ["boom"]}, "suite error"),
])
def test_a_broken_run_stays_inconclusive_whatever_the_file_says(
        broken: dict[str, Any], why: str) -> None:
    data = make_results({XML: XML_CASES}, **broken)
    assert summary(data)["verdict"] == "inconclusive", why
    for expected in ([entry()], [entry(requirement=AUTH)], []):
        judged = valid(apply(data, expected, TODAY))
        assert (summary(judged)["verdict"], summary(judged)["exit_code"]) == ("inconclusive", 3)


def test_a_new_failure_beside_an_expected_one_fails_the_run() -> None:
    data = make_results({XML: XML_CASES, AUTH: ["tokens/valid-login"]})
    judged = valid(apply(data, [entry()], TODAY))
    assert (summary(judged)["verdict"], summary(judged)["exit_code"]) == ("not-conformant", 1)
    assert summary(judged)["new_failures"] == [AUTH]
    assert summary(judged)["failed_requirements"] == [AUTH, XML]
    assert [e["status"] for e in summary(judged)["expected_failures"]] == ["still-failing"]


def test_gaps_keep_the_partial_rule_and_allow_untested() -> None:
    gap: RequirementId = "KC-AUTH-008"
    judged = apply(make_results({XML: XML_CASES}, untested=[gap]), [entry()], TODAY)
    assert (summary(judged)["verdict"], summary(judged)["exit_code"]) == ("partial", 4)
    allowed = apply(make_results({XML: XML_CASES}, untested=[gap], allow_untested=True),
                    [entry()], TODAY)
    assert (summary(allowed)["verdict"], summary(allowed)["exit_code"]) == ("conformant", 0)


def test_an_entry_its_run_could_not_test_is_reported_not_stale() -> None:
    judged = valid(apply(make_results(untested=[XML]), [entry()], TODAY))
    assert summary(judged)["verdict"] == "partial"  # the gap decides, as without the file
    assert summary(judged)["stale_expectations"] == []
    [unconfirmed] = summary(judged)["expected_failures"]
    assert unconfirmed["status"] == "not-tested"
    assert summary_lines(judged)[0].startswith("UNCONFIRMED  KC-XML-002     not tested")


def test_nothing_judged_stays_inconclusive() -> None:
    everything = [r.id for r in CATALOG]
    judged = apply(make_results(untested=everything), [], TODAY)
    assert summary(judged)["verdict"] == "inconclusive"


def test_the_gating_level_decides_what_a_failure_costs() -> None:
    should = make_results({SHOULD: ["values|type=bogus"]}, level="should")
    assert summary(should)["verdict"] == "not-conformant"
    judged = apply(should, [entry(requirement=SHOULD)], TODAY)
    assert summary(judged)["verdict"] == "conformant"
    at_must = apply(make_results({SHOULD: ["values|type=bogus"]}), [entry(requirement=SHOULD)],
                    TODAY)  # not gating at must: still failing, listed, harmless
    assert summary(at_must)["verdict"] == "conformant"
    assert summary(at_must)["expected_failures"][0]["status"] == "still-failing"


def test_an_entry_for_a_requirement_the_run_does_not_have_fails_the_run() -> None:
    judged = apply(make_results(drop=[XML]), [entry()], TODAY)
    assert summary(judged)["verdict"] == "not-conformant"
    assert summary(judged)["stale_expectations"][0]["message"] == (
        "KC-XML-002 is not in this run's requirements: remove it")


def test_summary_lines_show_expected_failures_apart_from_new_and_stale() -> None:
    data = make_results({XML: XML_CASES, AUTH: ["tokens/valid-login"]})
    judged = apply(data, [entry(), entry(requirement=SHOULD)], TODAY)
    assert summary_lines(judged) == [
        "EXPECTED     KC-XML-002     still fails, accepted until 2027-01-31: vendor bug 123 "
        "(https://tracker.example/123)",
        "NEW FAIL     KC-AUTH-006    RequestToken with valid Basic credentials returns a token "
        "(1/1 cases failed)",
        "STALE        KC-TYPE-004    KC-TYPE-004 passes now: remove it",
        "expected failures: 1 still failing; new failures: 1; stale expectations: 1 "
        "(each fails the run)"]
    assert summary_lines(data) == []  # judged without a file: nothing to add


def test_judging_twice_is_judging_once() -> None:
    data = make_results({XML: XML_CASES})
    once = apply(data, [entry()], TODAY)
    again = apply(once, [entry(expires=date(2026, 11, 30))], TODAY)
    assert summary(again)["verdict"] == "not-conformant"
    assert "expected" not in row(again, XML)
    assert apply(once, [entry()], TODAY) == once
