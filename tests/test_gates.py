"""Release gates on real runs: known failures that do not fail the gate until they expire
(``--expect``, also on merged parts), and the run-to-run diff with its exit codes."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from conftest import FAST, Run
from killmatrix import CliRun, run_cli

from conformance.integration.cli import main
from conformance.reports.report import PART_NAME, load_part

pytestmark = pytest.mark.system

FAULT = "wrong-type-attribute"  # KC-XML-003: Response/@type is KeepCallResponse


def expect_file(path: Path, ids: list[str], expires: date) -> Path:
    path.write_text("".join(
        f'[[expected]]\nrequirement = "{rid}"\nreason = "vendor bug 12: {rid}"\n'
        f'link = "https://tracker.example/12"\nexpires = {expires.isoformat()}\n\n'
        for rid in ids), encoding="utf-8")
    return path


def gate_run(report_dir: Path, *args: str) -> CliRun:
    """The quick suite on the faulty server, in the run's own process (gates judge results,
    not the wire), its Hypothesis part bounded as tests/conftest.py's runs are."""
    return run_cli(["--quick", "--reference-fault", FAULT, *FAST, *args], report_dir,
                   in_process=True)


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> CliRun:
    return gate_run(tmp_path_factory.mktemp("faulty") / "reports")


def test_known_failures_pass_the_gate_until_they_expire(faulty: CliRun, tmp_path: Path) -> None:
    assert faulty.exit_code == 1, faulty.describe()
    failed = faulty.summary["failed_requirements"]
    assert "KC-XML-003" in failed
    known = expect_file(tmp_path / "known.toml", failed, date.today() + timedelta(days=30))
    run = gate_run(tmp_path / "gated", "--expect", str(known))
    summary = run.summary
    assert run.exit_code == 0 and summary["verdict"] == "conformant", run.stdout[-2000:]
    assert summary["new_failures"] == [] and summary["failed_requirements"] == failed
    assert {e["requirement"] for e in summary["expected_failures"]} == set(failed)
    assert "EXPECTED" in run.stdout and "vendor bug 12" in run.stdout
    page = (run.report_dir / "report.html").read_text(encoding="utf-8")
    assert "Expected failures" in page and "tracker.example/12" in page

    expired = expect_file(tmp_path / "expired.toml", failed, date(2020, 1, 1))
    results = str(faulty.report_dir / "results.json")
    assert main(["merge", results, "--expect", str(expired), "--report-dir",
                 str(tmp_path / "expired")]) == 1
    data = json.loads((tmp_path / "expired" / "results.json").read_text(encoding="utf-8"))
    assert all("expired" in e["message"] for e in data["summary"]["stale_expectations"])

    passing = expect_file(tmp_path / "passing.toml", [*failed, "KC-XML-002"],
                          date.today() + timedelta(days=30))
    assert main(["merge", results, "--expect", str(passing), "--report-dir",
                 str(tmp_path / "passing")]) == 1  # KC-XML-002 passes: the entry is stale


def test_a_bad_expected_failures_file_is_a_usage_error(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[expected]]\nrequirement = "KC-NOPE-001"\n', encoding="utf-8")
    assert main(["run", "--expect", str(bad)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("keepcall-conformance: error: --expect:") and "\n" not in error


def test_diff_names_the_regression_and_exits_1(quick_run: Run, faulty: CliRun, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = (run.report_dir / "results.json" for run in (quick_run, faulty))
    comment = tmp_path / "diff.md"
    assert main(["diff", str(good), str(bad), "--markdown", str(comment)]) == 1
    out = capsys.readouterr().out
    assert "KC-XML-003" in out and "KC-XML-003" in comment.read_text(encoding="utf-8")
    assert main(["diff", str(bad), str(good)]) == 0  # fixed: no regression
    assert "KC-XML-003" in capsys.readouterr().out
    assert main(["diff", str(good), str(faulty.report_dir / "junit.xml")]) == 2


def test_replay_sends_a_recorded_case_again(faulty: CliRun,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """A failed matrix case fails again on the faulty server and passes on the fixed one;
    a property example or an unknown id is a usage error (exit 2, one line)."""
    results = str(faulty.report_dir / "results.json")
    manifest = load_part(faulty.report_dir / PART_NAME)
    case = next(c for c, rows in manifest["ledger"]["cases"].items() if "::" not in c
                and ["KC-XML-003", "fail", "", 1] in rows)
    assert main(["replay", results, case, "--reference-fault", FAULT]) == 1
    out = capsys.readouterr().out
    assert out.index("recorded:") < out.index("replayed:") and "KC-XML-003" in out
    assert "fail" in out.split("replayed:")[1] and "curl" in out
    assert main(["replay", results, case]) == 0  # the embedded server without the fault
    capsys.readouterr()
    searched = next(c for c in manifest["ledger"]["cases"] if "::" in c)
    assert main(["replay", results, searched]) == 2
    assert main(["replay", results, "no-such-case"]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and "--seed" in errors[0] and "no case" in errors[1]
