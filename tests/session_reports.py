"""Reports that sum up many system tests: reports/kill-matrix.* (and docs/KILL-MATRIX.md, from
the exhaustive lane), reports/hostile-targets.json.

Each of those tests runs one child and records its row with ``record_row``. pytest carries a
test's user properties from an xdist worker to the controller with its report, so one writer on
the controller (or on the only process, without xdist) sees every row, like pytest's junitxml, and
writes once at session end. A report is written only when every row it lists ran: a ``-k`` or
``--lf`` run leaves the last complete one in place.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from hostile import SERVERS

from conformance.reference.faults import FAULTS

PROPERTY = "session-report-row"
KILL_MATRIX = "kill-matrix"
HOSTILE_TARGETS = "hostile-targets"
Rows = dict[str, dict[str, Any]]

# killmatrix (and through it the conformance plugin) is imported by the writers that need it,
# not here: conftest imports this module in every process, xdist's controller included, which
# runs no test (0.4 to 0.8 s of CPU per process).


def record_row(record_property: Callable[[str, object], None], report: str, key: str,
               row: Mapping[str, Any]) -> None:
    """Hand one row of ``report`` to the writer (pass the test's ``record_property``)."""
    record_property(PROPERTY, (report, key, dict(row)))


def _write_kill_matrix(rows: Rows) -> None:
    """The exhaustive lane's rows (whole runs): the reports, and the docs' copy."""
    from killmatrix import ROOT, Row, write

    write([Row(**rows[f.name]) for f in FAULTS], ROOT / "reports", ROOT / "docs" / "KILL-MATRIX.md")


def _write_hostile_targets(rows: Rows) -> None:
    from killmatrix import ROOT

    ordered = {name: rows[name] for name in SERVERS}
    (ROOT / "reports").mkdir(exist_ok=True)
    (ROOT / "reports" / "hostile-targets.json").write_text(json.dumps(ordered, indent=2) + "\n")


@dataclass(frozen=True)
class Report:
    """The keys a complete report has, and how to write it."""

    keys: frozenset[str]
    write: Callable[[Rows], None]


REPORTS: dict[str, Report] = {
    KILL_MATRIX: Report(frozenset(f.name for f in FAULTS), _write_kill_matrix),
    HOSTILE_TARGETS: Report(frozenset(SERVERS), _write_hostile_targets),
}


@dataclass(eq=False)  # a plugin object must stay hashable for pluggy
class SessionReports:
    """The plugin object: rows in from each test's report, complete reports out at the end."""

    rows: dict[str, Rows] = field(default_factory=dict)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for name, value in report.user_properties:
            if name == PROPERTY:
                kind, key, row = cast(tuple[str, str, dict[str, Any]], value)
                self.rows.setdefault(kind, {})[key] = row

    def pytest_sessionfinish(self) -> None:
        for kind, rows in self.rows.items():
            if REPORTS[kind].keys <= set(rows):
                REPORTS[kind].write(rows)


def register(config: pytest.Config) -> None:
    """Register the writer, except on xdist workers (their rows reach the controller)."""
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(SessionReports(), "keepcall-session-reports")
