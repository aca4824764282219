"""Shards and workers: the parts of a run, merged, give the verdicts, counts and observations
of one serial run with the same seed; a part that did not finish voids the verdict; bad parts,
parts of different runs, a part given twice and a shard missing are a one-line usage error.

The runs go against the embedded reference server with a fault, so that failures, groups and
observations are all compared, not only passes; each part serves it in its own process (the wire
is not what splitting a run tests)."""

from __future__ import annotations

import concurrent.futures
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from killmatrix import EMBEDDED_ENV, CliRun, run_cli

from conformance.integration.cli import main
from conformance.reports.merge import SOURCE, MergeError, combine, read_part
from conformance.reports.report import PART_NAME, write_part

pytestmark = pytest.mark.system

ARGS = ["--quick", "--seed", "5", "--examples", "5", "--reference-fault", "do-not-delete-sets-kept"]


def verdicts(data: dict[str, Any] | None) -> dict[str, tuple[object, ...]]:
    """What must not depend on how a run was split: each verdict, its failed and untested
    cases, and the readings observed. (How often a reading was seen includes the examples of
    the property searches, which a time budget bounds: two serial runs may differ there too.
    So may how many cases checked a requirement: an edge case's call may have started by the
    time a loaded machine sends its request, which adds that call's clauses to the case.)"""
    assert data is not None
    return {r["id"]: (r["verdict"], r["failed"], r.get("not_tested"),
                      sorted(r["observations"])) for r in data["requirements"]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CliRun]:
    root = tmp_path_factory.mktemp("scale")
    plans = {"serial": ARGS, "workers": [*ARGS, "--workers", "3"],
             "matrix-only": [*ARGS, "--workers", "2", "-k", "test_matrix"],
             **{f"shard{i}": [*ARGS, "--shard", f"{i}/2"] for i in (1, 2)}}
    with concurrent.futures.ThreadPoolExecutor(len(plans)) as pool:
        started = {name: pool.submit(run_cli, args, root / name, env=EMBEDDED_ENV,
                                     in_process=True) for name, args in plans.items()}
        return {name: future.result() for name, future in started.items()}


def test_workers_equal_a_serial_run(runs: dict[str, CliRun]) -> None:
    serial, workers = runs["serial"], runs["workers"]
    assert serial.exit_code == workers.exit_code == 1, workers.describe()
    assert verdicts(workers.results) == verdicts(serial.results)
    assert workers.summary["cases"] == serial.summary["cases"]
    assert workers.summary["failed_cases"] == serial.summary["failed_cases"]
    assert [g["cause"] for g in workers.summary["groups"]] == [
        g["cause"] for g in serial.summary["groups"]]
    junit, alone = ((run.report_dir / "junit.xml").read_text(encoding="utf-8")
                    for run in (workers, serial))
    assert junit.count("<testcase") == alone.count("<testcase") > 300
    assert junit.count("<failure") == alone.count("<failure") > 0
    assert (workers.report_dir / "report.html").is_file()
    assert workers.leaks() == []  # the parts' files and logs too


def test_searches_that_move_no_clock_run_in_the_parallel_part(runs: dict[str, CliRun]) -> None:
    """The searches marked parallel are dealt to the parallel parts; one whose example had to
    move the clock is deferred, whole, to the exclusive part, where the stateful search (it
    moves the clock) runs too. Every search runs to its end exactly once."""
    parts = runs["workers"].report_dir / "parts"
    read = {where.name: read_part(where) for where in parts.iterdir()
            if (where / PART_NAME).is_file()}
    searched = {name: list(part["ledger"]["searches"]) for name, part in read.items()}
    exclusive = searched.pop("exclusive")
    deferred = {case for name, part in read.items() if name != "exclusive"
                for case in part["deferred"] if "::" in case}
    parallel = [name for names in searched.values() for name in names]
    assert {name for name in exclusive if "test_stateful" not in name} == deferred
    assert sorted(parallel + exclusive) == sorted(set(parallel + exclusive))
    assert sum("test_stateful" in name for name in exclusive) == 1
    assert sum("test_properties" in name for name in parallel + exclusive) == 5
    assert any("test_requests_fuzzed" in name for name in parallel + exclusive)
    assert len(parallel) >= 3 and sum(bool(names) for names in searched.values()) == 3


def test_the_parts_share_one_run_budget(runs: dict[str, CliRun]) -> None:
    """--workers 3: each part searches for a third of the run's --budget (the parallel parts'
    searches run at once), and the merged run records the run's budget, as a serial run."""
    parts = runs["workers"].report_dir / "parts"
    budgets = {read_part(where)["suite"]["budget"] for where in parts.iterdir()
               if (where / PART_NAME).is_file()}
    serial, workers = (runs[name].results for name in ("serial", "workers"))
    assert serial is not None and workers is not None
    assert budgets == {serial["suite"]["budget"] / 3}
    assert workers["suite"]["budget"] == serial["suite"]["budget"]


def test_shards_merged_equal_a_serial_run(runs: dict[str, CliRun], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    parts = [runs[f"shard{i}"].report_dir / "results.json" for i in (1, 2)]
    code = main(["merge", *map(str, parts), "--report-dir", str(tmp_path)])
    assert code == runs["serial"].exit_code == 1
    merged = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert verdicts(merged) == verdicts(runs["serial"].results)
    for count in ("cases", "failed_cases", "requirements"):
        assert merged["summary"][count] == runs["serial"].summary[count], count
    assert merged["suite"]["parts"] == ["1/2 all", "2/2 all"]
    alone = [verdicts(runs[f"shard{i}"].results) for i in (1, 2)]
    assert alone[0] != verdicts(merged) and alone[1] != verdicts(merged)  # each saw a part
    assert "VERDICT: NOT-CONFORMANT" in capsys.readouterr().out


def test_a_missing_part_voids_the_verdict(runs: dict[str, CliRun]) -> None:
    part = read_part(runs["shard1"].report_dir / "results.json")
    data = combine([part], problems=["the part in parts/2 wrote no cases.json.gz"])
    assert data["summary"]["verdict"] == "inconclusive"


def test_parts_of_different_runs_are_refused(runs: dict[str, CliRun], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    other = read_part(runs["shard2"].report_dir / "results.json")
    other["suite"]["seed"] = 6
    with pytest.raises(MergeError, match="seed"):
        combine([read_part(runs["shard1"].report_dir / "results.json"), other])
    (tmp_path / "results.json").write_text("{}", encoding="utf-8")
    assert main(["merge", str(tmp_path / "results.json")]) == 2
    assert main(["merge", str(tmp_path / "missing" / "results.json")]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and all(e.startswith("keepcall-conformance: error: ") for e in errors)


def test_a_part_with_nothing_to_do_still_joins(runs: dict[str, CliRun]) -> None:
    """-k keeps the matrix alone: the exclusive part has no case, and says so, not nothing."""
    run = runs["matrix-only"]
    assert run.summary["internal_errors"] == [], run.describe()
    assert run.summary["verdict"] == "not-conformant" and run.summary["cases"] > 300
    assert any("exclusive" in part for part in run.results["suite"]["parts"])  # type: ignore[index]


def refusal(capsys: pytest.CaptureFixture[str], tmp_path: Path, *sources: Path) -> str:
    """``merge`` of ``sources``: exit 2, nothing written, and the one line it printed."""
    report_dir = tmp_path / "merged"
    assert main(["merge", *map(str, sources), "--report-dir", str(report_dir)]) == 2
    assert not (report_dir / "results.json").exists()
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("keepcall-conformance: error: "), lines
    return lines[0]


def shard(runs: dict[str, CliRun], index: int) -> Path:
    return runs[f"shard{index}"].report_dir / "results.json"


def test_a_shard_missing_is_refused(runs: dict[str, CliRun], tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    """One shard alone (a CI matrix with a failed runner) gets no verdict."""
    line = refusal(capsys, tmp_path, shard(runs, 1))
    assert "incomplete run of 2 shards" in line and "matrix slice 2/2" in line
    assert "outside the matrix (2/2)" in line
    assert "matrix slice 1/2" in refusal(capsys, tmp_path, shard(runs, 2))


def test_a_part_given_twice_is_refused(runs: dict[str, CliRun], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """The same part twice would count its cases twice: by the same path, or a copy."""
    line = refusal(capsys, tmp_path, shard(runs, 1), shard(runs, 2), shard(runs, 1))
    assert "duplicate parts: 1/2 all" in line and line.count(str(shard(runs, 1).parent)) == 2
    copy = tmp_path / "copy"
    shutil.copytree(runs["shard2"].report_dir, copy)
    line = refusal(capsys, tmp_path, shard(runs, 1), shard(runs, 2), copy / "results.json")
    assert "duplicate parts: 2/2 all" in line and str(copy) in line


# A field of a part changed as another run would have it: (where, key, value, word in the line)
OTHER_RUNS: tuple[tuple[str, str, object, str], ...] = (
    ("suite", "seed", 6, "seed"), ("suite", "quick", False, "quick"),
    ("suite", "matrix", "0123456789abcdef", "matrix"), ("suite", "select", "test_matrix", "select"),
    ("suite", "level", "should", "level"), ("target", "reference_faults", [], "reference_faults"),
    ("suite", "parts", ["2/3 all"], "2/3 all"))


@pytest.mark.parametrize(("where", "key", "value", "word"), OTHER_RUNS)
def test_parts_of_different_runs_are_named(runs: dict[str, CliRun], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str], where: str,
                                           key: str, value: object, word: str) -> None:
    other = read_part(shard(runs, 2))
    assert other[where].get(key) != value  # it is a change
    other[where][key] = value
    write_part(tmp_path / "other" / PART_NAME, {k: v for k, v in other.items() if k != SOURCE})
    line = refusal(capsys, tmp_path, shard(runs, 1), tmp_path / "other" / "results.json")
    assert "parts of different runs" in line and word in line and str(tmp_path / "other") in line
