"""The command line end to end: usage errors, a quick run, reports, exit codes, no leaked secret.

Runs the installed ``keepcall-conformance`` script in a subprocess over real TCP; the quick run
against the embedded server is shared (session fixture ``quick_run``).
"""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from xml.etree import ElementTree

import pytest
from conftest import Run, clean_env, run_cli
from hostile import refusing
from lxml import etree

from conformance.integration.cli import main
from conformance.integration.launch import _exit_code
from conformance.integration.plugin import serve_in_process
from conformance.reference import ReferenceServer
from conformance.reports.merge import read_part
from conformance.wire.control import violation

SCRIPT = str(Path(sys.executable).with_name("keepcall-conformance"))

# (arguments, words the one stderr line must contain)
USAGE_ERRORS = (
    (("--target", "ftp://nowhere/verba/api", "--api-key", "k"), ("--target",)),
    (("--profile", "{tmp}/absent.toml"), ("profile", "absent.toml")),
    (("--reference-fault", "no-such-fault"), ("no-such-fault",)),
    (("--reference-switch", "no_such_switch=1"), ("no_such_switch",)),
    (("--reference-switch", "duplicates"), ("duplicates",)),
    (("--level", "foo"), ("--level", "foo")),
    (("--target", "http://127.0.0.1:9/verba/api"), ("API key",)),
    (("--token", "t", "--username", "u"), ("--token", "--username")),
    (("--examples", "0"), ("--examples",)),
)


@pytest.mark.parametrize(("args", "words"), USAGE_ERRORS)
def test_usage_errors_exit_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch,
                                           args: tuple[str, ...], words: tuple[str, ...],
                                           ) -> None:
    """In process (conformance.integration.cli.main): each usage error is caught before any
    request."""
    for name in [k for k in os.environ if k.startswith("KEEPCALL_")]:
        monkeypatch.delenv(name)
    filled = [a.format(tmp=tmp_path) for a in args]
    try:
        code = main(["run", "--report-dir", str(tmp_path / "r"), *filled])
    except SystemExit as exit_:
        code = exit_.code  # type: ignore[assignment]
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and all(w in lines[0] for w in words), err
    assert not (tmp_path / "r" / "results.json").exists()


def _no_fork(_settings: object) -> None:
    raise OSError(errno.EAGAIN, "Resource temporarily unavailable")  # fork(2) could fail so


def test_under_workers_only_the_report_dir_is_a_report_dir_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An OSError that is not about the report directory is the suite's error (exit 3, its
    traceback shown), not a usage error naming --report-dir."""
    from conformance.integration import workers

    monkeypatch.setattr(workers, "_warm", _no_fork)
    code = main(["run", "--workers", "2", "-q", "--report-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 3, err
    assert "--report-dir" not in err and "suite error" in err and "Traceback" in err, err
    assert "Resource temporarily unavailable" in err


def test_under_workers_a_report_dir_it_cannot_write_is_a_usage_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from conformance.integration import workers

    monkeypatch.setattr(workers, "_warm", lambda _settings: None)
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "parts").write_text("a file where the parts' folder goes")
    code = main(["run", "--workers", "2", "-q", "--report-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--report-dir" in err[0], err


# (pytest's exit code, the verdict results.json gave, the tool's exit code)
EXIT_MAPPING = ((0, "conformant", 0), (1, "not-conformant", 1), (3, "inconclusive", 3),
                (4, "partial", 4), (4, None, 2), (2, None, 3), (5, None, 3))


@pytest.mark.parametrize(("code", "verdict", "expected"), EXIT_MAPPING)
def test_a_partial_verdict_is_told_from_pytests_usage_error(code: int, verdict: str | None,
                                                            expected: int) -> None:
    """pytest's USAGE_ERROR is 4 too: only a run whose verdict is partial exits 4."""
    assert _exit_code(code, verdict) == expected


def test_the_script_exits_2_on_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run([SCRIPT, "run", "--level", "foo"], capture_output=True, text=True,
                          timeout=60, env=clean_env(), cwd=tmp_path)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "--level" in done.stderr and done.stdout == ""


def test_quick_run_is_conformant(quick_run: Run) -> None:
    assert quick_run.code == 0, quick_run.stdout + quick_run.stderr
    cases = quick_run.results["summary"]["cases"]
    assert f"{cases} cases" in quick_run.stdout or f"cases: {cases}" in quick_run.stdout
    for name in ("results.json", "junit.xml", "report.html"):
        assert (quick_run.report_dir / name).is_file()
        assert f"wrote {quick_run.report_dir / name}" in quick_run.stdout


def test_results_json_has_the_contract_shape(quick_run: Run) -> None:
    data = quick_run.results
    assert set(data) >= {"suite", "target", "requirements", "summary"}
    assert data["suite"]["quick"] is True and data["target"]["embedded"] is True
    for row in data["requirements"]:
        assert {"id", "level", "title", "verdict", "cases", "failed"} <= set(row)
        assert row["verdict"] in ("pass", "fail", "not-tested", "observed")
    summary = data["summary"]
    assert summary["verdict"] == "conformant" and summary["exit_code"] == 0
    assert summary["cases"] > 200 and summary["internal_errors"] == []


def test_results_json_matches_its_schema(quick_run: Run) -> None:
    assert violation("results.schema.json", quick_run.results) is None


def test_junit_carries_requirement_properties(quick_run: Run) -> None:
    root = ElementTree.parse(quick_run.report_dir / "junit.xml").getroot()
    cases = root.findall(".//testcase")
    assert len(cases) >= 200
    traced = [c for c in cases
              if any(p.get("name") == "requirements" and p.get("value", "").startswith("KC-")
                     for p in c.findall("./properties/property"))]
    assert len(traced) == len(cases)


XUNIT1 = Path(__file__).parent / "schemas" / "junit-xunit1.xsd"


def test_junit_is_valid_xunit1(quick_run: Run, uncontrolled_runs: dict[str, Run]) -> None:
    """Each case's ``requirements`` property needs xunit1 (xunit2's schema allows no testcase
    properties): the file is written as xunit1 (it says where each test is, which xunit2 cannot)
    and is valid against that family's schema. Runs: the main job, and a ``--quick --seed 1``
    one with skipped cases."""
    schema = etree.XMLSchema(etree.parse(XUNIT1))
    for run in (quick_run, uncontrolled_runs["partial"]):
        document = etree.parse(run.report_dir / "junit.xml")
        cases = document.findall(".//testcase")
        assert cases and all(case.get("file") for case in cases)
        schema.assertValid(document)


def test_a_closed_port_is_inconclusive(tmp_path: Path) -> None:
    with refusing() as url:
        run = run_cli("--target", f"{url}/verba/api", "--api-key", "k", "--quick",
                      report_dir=tmp_path / "r")
    assert run.code == 3, run.stdout + run.stderr
    summary = run.results["summary"]
    assert summary["verdict"] == "inconclusive" and summary["aborted"]
    assert "conformant" not in {r["verdict"] for r in run.results["requirements"]}
    assert {r["verdict"] for r in run.results["requirements"]} <= {"not-tested"}


def test_python_m_conformance_help() -> None:
    done = subprocess.run([sys.executable, "-m", "conformance", "--help"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and "run" in done.stdout and "serve" in done.stdout


SECRETS = {"api_key": "KEYzq8e1x7Wv3Lr0", "open_api_key": "OPENm4Rk2Qp9Tz6c",
           "username": "operatorJx5Ub", "password": "PASSw0rdN8yHq3Vd"}


def test_secrets_never_reach_a_file_or_the_output(tmp_path: Path) -> None:
    """A run against a target with known, distinctive secrets; none appears anywhere."""
    with ReferenceServer(api_key=SECRETS["api_key"], open_api_key=SECRETS["open_api_key"],
                         username=SECRETS["username"], password=SECRETS["password"]) as server:
        run = run_cli("--quick", "--target", server.api_url, "--control-url",
                      server.control_url, "--api-key", SECRETS["api_key"], "--open-api-key",
                      SECRETS["open_api_key"], "--username", SECRETS["username"],
                      "--password", SECRETS["password"], report_dir=tmp_path / "r")
        issued = tuple(server.store.tokens)  # the tokens the run obtained
    assert run.code == 0, run.stdout[-2000:] + run.stderr
    texts = {"stdout": run.stdout, "stderr": run.stderr}
    texts |= {p.name: p.read_text(errors="replace") for p in (tmp_path / "r").rglob("*")
              if p.is_file()}
    secrets = {**{n: s for n, s in SECRETS.items() if n != "username"},
               **{f"token{i}": t for i, t in enumerate(issued)}}
    assert issued, "the run never asked for a token"
    leaks = {(where, name) for where, text in texts.items() for name, secret in secrets.items()
             if secret in text}
    assert leaks == set()
    assert json.loads(texts["results.json"])["target"]["embedded"] is False


@pytest.fixture(scope="module")
def uncontrolled_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """The embedded reference server run as a remote target without --control-url, with and
    without --allow-untested: everything but the control protocol is given."""
    base = tmp_path_factory.mktemp("uncontrolled")
    with ReferenceServer() as server:
        args = ("--quick", "--seed", "1", "--target", server.api_url, "--api-key",
                server.api_key, "--open-api-key", server.open_api_key, "--username",
                server.username, f"--password={server.password}")
        return {name: run_cli(*args, *extra, report_dir=base / name)
                for name, extra in (("partial", ()), ("allowed", ("--allow-untested",)))}


def test_a_run_without_control_is_partial(uncontrolled_runs: dict[str, Run]) -> None:
    """Flags and fresh calls need the control protocol: those MUSTs are not tested, so the
    run cannot certify (exit 4), and says which requirements it lacks."""
    run = uncontrolled_runs["partial"]
    assert run.code == 4, run.stdout[-2000:] + run.stderr[-2000:]
    summary = run.results["summary"]
    assert summary["verdict"] == "partial" and summary["exit_code"] == 4
    assert summary["failed_requirements"] == [] and "KC-FLAG-002" in summary["untested_gating"]
    assert "VERDICT: PARTIAL" in run.stdout
    assert all(r in run.stdout for r in summary["untested_gating"])
    assert '"verdict partial">PARTIAL<' in (run.report_dir / "report.html").read_text()


def test_allow_untested_gates_on_what_was_tested(uncontrolled_runs: dict[str, Run]) -> None:
    run = uncontrolled_runs["allowed"]
    assert run.code == 0, run.stdout[-2000:] + run.stderr[-2000:]
    summary = run.results["summary"]
    assert summary["verdict"] == "conformant" and summary["allow_untested"] is True
    # What the property search reaches in its time budget varies: compare with this run alone.
    untested = {r["id"] for r in run.results["requirements"]
                if r["verdict"] == "not-tested" and r["level"] == "MUST"}
    assert summary["untested_gating"] and set(summary["untested_gating"]) == untested
    assert "VERDICT: CONFORMANT" in run.stdout


@pytest.mark.system
def test_max_duration_cuts_a_run_short_and_never_certifies(tmp_path: Path) -> None:
    """A bound on the whole run: the run stops when it is reached, says so, and is
    inconclusive whatever passed (a failure found before it would still fail the run)."""
    run = run_cli("--quick", "--max-duration", "0.5", "-q", report_dir=tmp_path / "r")
    assert run.code == 3, run.stdout + run.stderr
    summary = run.results["summary"]
    assert summary["verdict"] == "inconclusive" and summary["cut_short"]
    assert "--max-duration 0.5 s reached after" in summary["cut_short"]
    assert "run cut short (never conformant)" in run.stdout
    assert " cases/s, " not in run.stdout  # -q: no progress line
    page = (run.report_dir / "report.html").read_text(encoding="utf-8")
    assert "The run was cut short" in page


# The stateful search is left out: its shrinking is bounded in seconds, so how far it gets
# (and how many numbers it draws) depends on the machine, not on the seed.
REPEAT_ARGS = ("--quick", "--examples", "5", "-q", "--reference-fault", "do-not-delete-sets-kept",
               "-k", "not stateful")


def _cases(report_dir: Path) -> tuple[object, str]:
    """What a run found, case by case: the checks with the readings observed, and the failures'
    evidence (its curl lines carry the run's numbers and callIDs; the server's port aside, and
    the answers, which carry its date)."""
    ledger = read_part(report_dir / "results.json")["ledger"]
    evidence = [(e["case"], e["message"], e["curl"])
                for found in ledger["evidence"].values() for e in found]
    return ledger["cases"], re.sub(r"127\.0\.0\.1:\d+", "HOST", json.dumps(evidence))


@pytest.mark.system  # two whole runs, in process
def test_the_seed_printed_at_the_start_repeats_the_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A run given no seed draws one, prints it first and records it; --seed with it gives
    the same cases, readings and evidence (in process, quick, few examples, the embedded
    server served in this process too: the seed is the subject, not the wire). Neither run
    leaves Hypothesis's files behind, in the report directory or in a scratch one."""
    monkeypatch.delenv("HYPOTHESIS_STORAGE_DIRECTORY", raising=False)
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    with serve_in_process():
        first = main(["run", *REPEAT_ARGS, "--report-dir", str(tmp_path / "a")])
    said = capsys.readouterr().out.splitlines()[0]
    found = re.search(r"seed (\d+) \(--seed \1 repeats the run\)", said)
    assert found is not None, said
    seed = found.group(1)
    recorded = json.loads((tmp_path / "a" / "results.json").read_text())["suite"]["seed"]
    assert str(recorded) == seed
    with serve_in_process():
        again = main(["run", *REPEAT_ARGS, "--seed", seed, "--report-dir", str(tmp_path / "b")])
    assert first == again == 1
    assert _cases(tmp_path / "a") == _cases(tmp_path / "b")
    assert not list((tmp_path / "tmp").iterdir())
    assert not [d for d in ("a", "b") if (tmp_path / d / ".hypothesis").exists()]


def _sleeping_part(_argv: list[str], _where: Path, _env: object, _main: object,
                   _post: object) -> None:
    time.sleep(120)  # a part that would outlive its run


def _interrupted(_watch: object, _children: object, _what: str) -> None:
    raise KeyboardInterrupt


@pytest.mark.system
def test_an_interrupted_run_with_workers_leaves_no_part_running(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from conformance.integration import workers
    from conformance.integration.cli import _parser, main
    from conformance.integration.settings import options_from, resolve

    args = _parser().parse_args(["run", "--workers", "2", "--report-dir", str(tmp_path)])
    monkeypatch.setattr(workers, "_warm", lambda _settings: None)
    monkeypatch.setattr(workers, "_part", _sleeping_part)
    monkeypatch.setattr(workers._Watch, "wait", _interrupted)
    with pytest.raises(KeyboardInterrupt):
        workers.run(args, resolve(options_from(args), {}), main)
    assert multiprocessing.active_children() == []
