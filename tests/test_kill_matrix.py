"""The kill matrix: the suite's false-pass rate, measured on every fault of the reference server.

Each fault breaks one requirement of an otherwise conformant server. The suite a user runs
(``keepcall-conformance run --quick``; ``--level should`` for SHOULD faults) must exit 1 with a
failed verdict on that requirement; a fault that slips through is a false pass of the suite.
The runs go two at a time, one child process each, with canary secrets scanned afterwards.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from killmatrix import ROOT, Row, gaps, kill_matrix, to_markdown, write

from conformance.reference.faults import FAULTS, Fault
from conformance.requirements import BY_ID

# Requirements no fault can make fail, with the reason; each one is listed in the docs as a gap.
ACCEPTED_GAPS: dict[str, str] = {}
DOC = ROOT / "docs" / "KILL-MATRIX.md"


def _selected(session: pytest.Session) -> list[Fault]:
    """Only the faults whose tests were selected (a ``-k`` run pays for what it asks)."""
    ids = {item.callspec.id for item in session.items
           if isinstance(item, pytest.Function) and item.module.__name__ == __name__
           and hasattr(item, "callspec")}
    return [f for f in FAULTS if f.name in ids] or list(FAULTS)


@pytest.fixture(scope="module")
def matrix(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> dict[str, Row]:
    rows = kill_matrix(_selected(request.session), tmp_path_factory.mktemp("kill"))
    return {row.fault: row for row in rows}


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_fault_is_killed(matrix: dict[str, Row], fault: Fault) -> None:
    row = matrix[fault.name]
    assert row.exit_code == 1, f"{fault.name}: exit {row.exit_code}, {row}"
    assert row.verdict == "fail", f"{fault.name} not caught: {fault.requirement} {row.verdict}"


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_fault_run_leaks_no_secret(matrix: dict[str, Row], fault: Fault) -> None:
    assert matrix[fault.name].leaks == []


def test_matrix_is_written_and_has_no_unexplained_gap(matrix: dict[str, Row]) -> None:
    """reports/kill-matrix.{md,json}; every gating requirement fails under some fault."""
    if len(matrix) < len(FAULTS):
        pytest.skip("a subset of the faults ran: the matrix would be partial")
    rows = [matrix[f.name] for f in FAULTS]
    write(rows, ROOT / "reports")
    assert (ROOT / "reports" / "kill-matrix.md").read_text(encoding="utf-8") == to_markdown(rows)
    assert set(gaps(rows)) <= set(ACCEPTED_GAPS), f"gaps: {gaps(rows)}"
    assert all(BY_ID[r].level != "OBSERVE" for r in ACCEPTED_GAPS)


_DOC_ROW = re.compile(r"^\| `(?P<fault>[^`]+)` \| (?P<req>\S+) \| \w+ \| (?P<killed>[^|]+) \|",
                      re.MULTILINE)


def test_docs_matrix_is_current(matrix: dict[str, Row]) -> None:
    """docs/KILL-MATRIX.md shows every fault, killed or not as this run found it.

    Regenerate with ``python tests/killmatrix.py``.
    """
    shown = {m["fault"]: (m["req"], m["killed"].strip() == "yes")
             for m in _DOC_ROW.finditer(DOC.read_text(encoding="utf-8"))}
    assert set(shown) == {f.name for f in FAULTS}, "a fault is missing from the docs"
    for name, row in matrix.items():
        assert shown[name] == (row.requirement, row.killed), f"{name}: docs are stale"


def test_dead_server_is_not_a_kill(tmp_path: Path) -> None:
    """The matrix's own honesty: a run that never judged the requirement is no kill."""
    row = Row("x", "KC-RT-001", "must", "", exit_code=3, verdict="not-tested")
    assert not row.killed
    assert "**NO**" in to_markdown([row]) and "KC-RT-001" in gaps([row])
