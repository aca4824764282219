"""The kill matrix: the suite's false-pass rate, measured on every fault of the reference server.

Each fault breaks one requirement of an otherwise conformant server. The suite a user runs
(``keepcall-conformance run --quick``; ``--level should`` for SHOULD faults) must exit 1 with a
failed verdict on that requirement; a fault that slips through is a false pass of the suite.
One test per fault, each running its own child, with canary secrets scanned afterwards.

The default lane serves the server in the run's own process (the wire is not what a row tests;
a few rows go over TCP as a canary) and stops each run at its kill. The ``exhaustive`` lane
(``pytest -m exhaustive``, run by ``.ci/run``) runs every row whole, and its rows become
reports/kill-matrix.{md,json} and docs/KILL-MATRIX.md at session end (tests/session_reports.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import pytest
from killmatrix import ROOT, Row, gaps, run_fault, to_markdown, undefended, write
from session_reports import KILL_MATRIX, record_row

from conformance.reference.faults import FAULTS, Fault

DOC = ROOT / "docs" / "KILL-MATRIX.md"
# Rows of the default lane sent over TCP to a server thread, as users' runs are: a canary of the
# in-process seam where the bytes on the wire matter most (raw bytes, escapes, a charset, 405).
TCP_CANARIES = frozenset({"non-utf8-500", "malformed-escape-500", "wrong-charset",
                          "get-refused"})
_DOC_ROW = re.compile(r"^\| `(?P<fault>[^`]+)` \| (?P<req>\S+) \| \w+ \| (?P<killed>[^|]+) \|",
                      re.MULTILINE)


def documented() -> dict[str, tuple[str, bool]]:
    """docs/KILL-MATRIX.md as fault -> (requirement, killed)."""
    return {m["fault"]: (m["req"], m["killed"].strip() == "yes")
            for m in _DOC_ROW.finditer(DOC.read_text(encoding="utf-8"))}


def assert_killed(fault: Fault, row: Row) -> None:
    """Killed, no secret leaked, and docs/KILL-MATRIX.md shows it as this run found it."""
    assert row.exit_code == 1, f"{fault.name}: exit {row.exit_code}, {row}"
    assert row.verdict == "fail", f"{fault.name} not caught: {fault.requirement} {row.verdict}"
    assert row.leaks == []
    assert documented()[fault.name] == (row.requirement, row.killed), (
        f"{fault.name}: docs are stale; regenerate with python tests/killmatrix.py")


@pytest.mark.system
@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_fault_is_killed(fault: Fault, tmp_path: Path) -> None:
    """The run stops at its kill; over TCP for the canaries, in the run's process otherwise."""
    row = run_fault(fault, tmp_path, whole=False, in_process=fault.name not in TCP_CANARIES)
    assert_killed(fault, row)


@pytest.mark.system
@pytest.mark.exhaustive
@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_fault_is_killed_by_a_whole_run(fault: Fault, tmp_path: Path,
                                        record_property: Callable[[str, object], None]) -> None:
    """The whole run, a row of docs/KILL-MATRIX.md (written when every row has run)."""
    row = run_fault(fault, tmp_path)
    record_row(record_property, KILL_MATRIX, fault.name, asdict(row))
    assert_killed(fault, row)


def test_docs_list_every_fault() -> None:
    assert set(documented()) == {f.name for f in FAULTS}, "a fault is missing from the docs"


def test_every_gating_requirement_has_a_fault() -> None:
    """With every fault killed (the tests above), no gating requirement is a gap: each one's
    own fault makes it fail with exit 1."""
    assert undefended() == [], f"without a fault: {undefended()}"


def test_a_missed_fault_is_written_as_missed(tmp_path: Path) -> None:
    """reports/kill-matrix.{md,json} and the docs' copy: a fault the run missed is counted,
    named and marked, and the requirement only it breaks becomes a gap."""
    missed = next(f for f in FAULTS if [g.requirement for g in FAULTS].count(f.requirement) == 1)
    rows = [Row(f.name, f.requirement, "must", f.description, 1, "fail") if f != missed
            else Row(f.name, f.requirement, "must", f.description, 0, "pass") for f in FAULTS]
    write(rows, tmp_path / "reports", tmp_path / "KILL-MATRIX.md")
    markdown = (tmp_path / "reports" / "kill-matrix.md").read_text(encoding="utf-8")
    assert (tmp_path / "KILL-MATRIX.md").read_text(encoding="utf-8") == markdown
    assert f"**{len(FAULTS) - 1} of {len(FAULTS)} faults killed.**" in markdown
    assert f"| `{missed.name}` | {missed.requirement} | must | **NO** |" in markdown
    data = json.loads((tmp_path / "reports" / "kill-matrix.json").read_text(encoding="utf-8"))
    assert (data["killed"], data["faults"], data["missed"]) == (
        len(FAULTS) - 1, len(FAULTS), [missed.name])
    assert data["gaps"] == [missed.requirement]


def test_dead_server_is_not_a_kill() -> None:
    """The matrix's own honesty: a run that never judged the requirement is no kill."""
    row = Row("x", "KC-RT-001", "must", "", exit_code=3, verdict="not-tested")
    assert not row.killed
    assert "**NO**" in to_markdown([row]) and "KC-RT-001" in gaps([row])


def test_one_bug_reads_as_one_group_in_nine_runs_of_ten() -> None:
    """The root-cause measure of the kill matrix as last generated: at least 90% of the
    single-fault runs show at most two groups, the fault's requirement in the first."""
    text = DOC.read_text(encoding="utf-8")
    found = re.search(r"the failures of (\d+) of (\d+) faults read as at most two groups", text)
    assert found, "docs/KILL-MATRIX.md lacks the root-cause measure"
    one_bug, faults = int(found[1]), int(found[2])
    assert faults == len(FAULTS) and one_bug >= 0.9 * faults
