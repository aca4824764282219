"""Run-to-run diff: each section, the regression rule by gating level, the terminal and
Markdown renderings across two targets and two suite versions, and the command's exit codes."""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from test_expect import AUTH, SHOULD, XML, XML_CASES, entry, make_results

from conformance.catalog.requirements import CATALOG, RequirementId
from conformance.reports.diff import Diff, diff, main, markdown, problem, text
from conformance.reports.expect import apply

PRODUCTION = "https://user:secret@recorder.example/verba/api?apiKey=k"
STAGING = "https://staging.example/verba/api"
HTTP: RequirementId = "KC-HTTP-002"
GAP: RequirementId = "KC-AUTH-008"
OPEN: RequirementId = "KC-HTTP-003"  # OBSERVE


def sample() -> Diff:
    """Production on 1.0.0 against staging on 1.1.0, with one requirement in each section."""
    old = make_results({AUTH: ["tokens/valid-login"], HTTP: ["methods/POST"]},
                       observed={OPEN: ("form body", "query string")}, url=PRODUCTION,
                       version="1.0.0", drop=["KC-TIME-001"])
    new = make_results({XML: XML_CASES, HTTP: ["methods/POST"]}, untested=[GAP],
                       observed={OPEN: ("form body", "JSON body")}, url=STAGING,
                       version="1.1.0", drop=["KC-PARAM-004"])
    return diff(old, new, old_label="production", new_label="staging")


def ids(changes: Any) -> list[str]:
    return [c.id for c in changes]


def test_each_section_holds_its_requirements() -> None:
    d = sample()
    assert ids(d.new_failures) == [XML]
    assert ids(d.fixed) == [AUTH]
    assert ids(d.still_failing) == [HTTP]
    assert ids(d.newly_untested) == [GAP]
    [observation] = d.changed_observations
    assert (observation.id, observation.appeared, observation.disappeared) == (
        OPEN, ("JSON body",), ("query string",))
    assert ids(d.only_old) == ["KC-PARAM-004"] and ids(d.only_new) == ["KC-TIME-001"]
    failure = d.new_failures[0]
    assert (failure.old, failure.new) == ("pass", "fail")
    assert failure.detail == (f"2/2 cases failed; {XML_CASES[0]}: {XML_CASES[0]} broke {XML}")


def test_the_two_runs_are_named_by_target_version_and_verdict() -> None:
    d = sample()
    assert (d.old.url, d.new.url) == ("https://recorder.example/verba/api", STAGING)
    assert (d.old.version, d.new.version) == ("1.0.0", "1.1.0")
    assert (d.old.verdict, d.new.verdict) == ("not-conformant", "not-conformant")
    assert not d.verdict_changed
    assert diff(make_results(), make_results({XML: XML_CASES})).verdict_changed


def test_identical_runs_differ_in_nothing() -> None:
    d = diff(make_results(), make_results())
    assert not d.regressed and not d.verdict_changed
    assert all(not getattr(d, name) for name in (
        "new_failures", "fixed", "still_failing", "newly_untested", "changed_observations",
        "only_old", "only_new"))


# (old run's failures and gaps, new run's, new run's level, regressed)
REGRESSIONS: tuple[tuple[dict[str, Any], dict[str, Any], str, bool], ...] = (
    ({}, {"fails": {XML: XML_CASES}}, "must", True),  # a MUST newly fails
    ({}, {"untested": [GAP]}, "must", True),  # a MUST newly untested
    ({"fails": {XML: XML_CASES}}, {"untested": [XML]}, "must", True),  # fail -> untested
    ({"untested": [XML]}, {"fails": {XML: XML_CASES}}, "must", True),  # untested -> fail
    ({}, {"fails": {SHOULD: ["v"]}}, "must", False),  # SHOULD does not gate at must
    ({}, {"fails": {SHOULD: ["v"]}, "level": "should"}, "should", True),
    ({}, {"untested": [SHOULD], "level": "should"}, "should", True),
    ({}, {"untested": ["KC-PARAM-001"]}, "must", False),  # OBSERVE never gates
    ({"fails": {XML: XML_CASES}}, {"fails": {XML: XML_CASES}}, "must", False),  # not news
    ({"fails": {XML: XML_CASES}}, {}, "must", False),  # fixed
    ({"untested": [GAP]}, {}, "must", False),  # newly tested
)


@pytest.mark.parametrize(("old", "new", "level", "regressed"), REGRESSIONS)
def test_regressed_means_worse_at_the_new_runs_gating_level(
        old: dict[str, Any], new: dict[str, Any], level: str, regressed: bool) -> None:
    d = diff(make_results(**old), make_results(**new))
    assert d.new.level == level
    assert d.regressed is regressed


def test_an_expected_failure_is_still_news_to_the_diff_and_says_so() -> None:
    new = apply(make_results({XML: XML_CASES}), [entry()], date(2026, 12, 1))
    d = diff(make_results(), new)
    assert d.regressed and d.new.verdict == "conformant"
    assert d.new_failures[0].detail.startswith("expected until 2027-01-31: vendor bug 123; "
                                               "2/2 cases failed; ")


def test_text_shows_both_targets_each_section_and_the_outcome() -> None:
    out = text(sample())
    assert "target        https://recorder.example/verba/api  ->  " + STAGING in out
    assert "suite version 1.0.0  ->  1.1.0" in out
    assert "secret" not in out and "apiKey" not in out
    for heading in ("NEW FAILURES (1)", "NEWLY UNTESTED (1)", "FIXED (1)", "STILL FAILING (1)",
                    "ONLY IN THE OLD RUN'S CATALOG (1)", "ONLY IN THE NEW RUN'S CATALOG (1)",
                    "CHANGED OBSERVATIONS (1)"):
        assert heading in out
    assert f"  MUST    {XML:<15}      pass -> fail       " in out
    assert f"  {OPEN:<15}+ JSON body; - query string" in out
    assert out.endswith("REGRESSED at the gating level (must): 2 requirements: "
                        f"{XML}, {GAP}\n")
    assert text(diff(make_results(), make_results())).endswith(
        "No regression at the gating level.\n")


def test_markdown_has_a_heading_the_runs_and_a_table_per_section() -> None:
    md = markdown(sample())
    lines = md.splitlines()
    assert lines[0] == "### KeepCall conformance: production → staging"
    assert "| target | https://recorder.example/verba/api | " + STAGING + " |" in lines
    assert "| suite version | 1.0.0 | 1.1.0 |" in lines
    assert "| verdict | not-conformant | not-conformant |" in lines
    assert "**REGRESSED at the gating level (must): 2 requirements: " in md
    for heading in ("#### New failures (1)", "#### Newly untested (1)", "#### Fixed (1)",
                    "#### Still failing (1)", "#### Changed observations (1)",
                    "#### Only in the old run's catalog (1)",
                    "#### Only in the new run's catalog (1)"):
        assert heading in lines
    assert md.count("| ID | Level | Requirement | Old | New | Detail |") == 6
    assert "| ID | Requirement | Appeared | Disappeared |" in lines
    assert f"| {OPEN} | Which POST encodings are served | JSON body | query string |" in lines
    assert "<details>" not in md  # short sections stay open


def test_markdown_folds_long_sections_and_escapes_cells() -> None:
    gaps = [r.id for r in CATALOG if r.level == "MUST"][:12]
    old = make_results({XML: ["a|b <script>"]})
    d = diff(old, make_results(untested=gaps))
    md = markdown(d)
    assert "<details><summary>12 requirements</summary>" in md and "</details>" in md
    assert "a\\|b &lt;script&gt;" not in md  # fixed rows carry no detail
    worse = markdown(diff(make_results(), old))
    assert "a\\|b &lt;script&gt;" in worse and "<script>" not in worse


def write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_main_exits_1_on_a_regression_and_writes_the_markdown(tmp_path: Path) -> None:
    old = write(tmp_path / "production.json", make_results(url=PRODUCTION))
    new = write(tmp_path / "staging.json", make_results({XML: XML_CASES}))
    out = io.StringIO()
    assert main(old, new, tmp_path / "comment.md", out) == 1
    comment = (tmp_path / "comment.md").read_text(encoding="utf-8")
    assert comment.startswith(f"### KeepCall conformance: {old} → {new}")
    assert "#### New failures (1)" in comment
    assert "NEW FAILURES (1)" in out.getvalue()
    assert out.getvalue().endswith(f"  wrote {tmp_path / 'comment.md'}\n")


def test_main_exits_0_without_a_regression(tmp_path: Path) -> None:
    old = write(tmp_path / "old.json", make_results({XML: XML_CASES}))
    new = write(tmp_path / "new.json", make_results())
    out = io.StringIO()
    assert main(old, new, None, out) == 0
    assert "FIXED (1)" in out.getvalue()


@pytest.mark.parametrize(("content", "said"), [
    ("{not json", "not JSON: Expecting property name"),
    ("[]", "is no results.json: suite is missing or not an object"),
    (json.dumps({"suite": {"version": "1"}, "target": {}, "requirements": [],
                 "summary": {"level": "must"}}),
     "is no results.json: summary.verdict is missing or not a string"),
    (json.dumps({"suite": {"version": "1"}, "target": {}, "requirements": [{"id": "KC-X-001"}],
                 "summary": {"level": "must", "verdict": "conformant"}}),
     "is no results.json: requirements[0] misses 'level'"),
])
def test_main_exits_2_with_one_line_naming_a_bad_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, said: str) -> None:
    good = write(tmp_path / "good.json", make_results())
    bad = tmp_path / "bad.json"
    bad.write_text(content, encoding="utf-8")
    out = io.StringIO()
    assert main(good, bad, tmp_path / "comment.md", out) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"keepcall-conformance: error: {bad}") and said in err
    assert err.count("\n") == 1 and out.getvalue() == ""
    assert not (tmp_path / "comment.md").exists()


def test_main_exits_2_for_a_missing_file(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path / "good.json", make_results())
    assert main(tmp_path / "absent.json", good, None, io.StringIO()) == 2
    err = capsys.readouterr().err
    assert err == f"keepcall-conformance: error: {tmp_path / 'absent.json'}: cannot read: " \
                  "No such file or directory\n"


def test_a_real_run_has_what_the_diff_reads() -> None:
    assert problem(make_results()) is None
