"""The kill matrix: the suite's false-pass rate, measured on every fault of the reference server.

Each fault breaks one requirement of an otherwise conformant server. The suite a user runs
(``keepcall-conformance run --quick``; ``--level should`` for SHOULD faults) must exit 1 with a
failed verdict on that requirement; a fault that slips through is a false pass of the suite.
One test per fault, each running its own child, with canary secrets scanned afterwards; the
rows become reports/kill-matrix.{md,json} at session end (tests/session_reports.py).
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
from conformance.requirements import BY_ID

# Requirements no fault can make fail, with the reason; each one is listed in the docs as a gap.
ACCEPTED_GAPS: dict[str, str] = {}
DOC = ROOT / "docs" / "KILL-MATRIX.md"
_DOC_ROW = re.compile(r"^\| `(?P<fault>[^`]+)` \| (?P<req>\S+) \| \w+ \| (?P<killed>[^|]+) \|",
                      re.MULTILINE)


def documented() -> dict[str, tuple[str, bool]]:
    """docs/KILL-MATRIX.md as fault -> (requirement, killed)."""
    return {m["fault"]: (m["req"], m["killed"].strip() == "yes")
            for m in _DOC_ROW.finditer(DOC.read_text(encoding="utf-8"))}


@pytest.mark.system
@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_fault_is_killed(fault: Fault, tmp_path: Path,
                         record_property: Callable[[str, object], None]) -> None:
    """Killed, no secret leaked, and docs/KILL-MATRIX.md shows it as this run found it."""
    row = run_fault(fault, tmp_path)
    record_row(record_property, KILL_MATRIX, fault.name, asdict(row))
    assert row.exit_code == 1, f"{fault.name}: exit {row.exit_code}, {row}"
    assert row.verdict == "fail", f"{fault.name} not caught: {fault.requirement} {row.verdict}"
    assert row.leaks == []
    assert documented()[fault.name] == (row.requirement, row.killed), (
        f"{fault.name}: docs are stale; regenerate with python tests/killmatrix.py")


def test_docs_list_every_fault() -> None:
    assert set(documented()) == {f.name for f in FAULTS}, "a fault is missing from the docs"


def test_every_gating_requirement_has_a_fault() -> None:
    """With every fault killed (the tests above), no gating requirement is a gap unless
    accepted: each one's own fault makes it fail with exit 1."""
    assert set(undefended()) <= set(ACCEPTED_GAPS), f"without a fault: {undefended()}"
    assert all(BY_ID[r].level != "OBSERVE" for r in ACCEPTED_GAPS)


def test_the_matrix_is_written_as_shown(tmp_path: Path) -> None:
    """reports/kill-matrix.{md,json}: the markdown the docs carry, and the counts."""
    rows = [Row(f.name, f.requirement, "must", f.description, 1, "fail") for f in FAULTS]
    write(rows, tmp_path)
    assert (tmp_path / "kill-matrix.md").read_text(encoding="utf-8") == to_markdown(rows)
    data = json.loads((tmp_path / "kill-matrix.json").read_text(encoding="utf-8"))
    assert (data["killed"], data["faults"], data["missed"]) == (len(FAULTS), len(FAULTS), [])
    assert data["gaps"] == gaps(rows) == []


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
