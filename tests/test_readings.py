"""No false failures: every reading the spec allows passes, at SHOULD level too.

The reference server's switches are the open points of docs/SEMANTICS.md; every value is an
allowed reading. The suite a user runs must find each combination conformant with no failed
requirement at all: a failure here is a bug of the suite (or of the oracle), not of the server.
Combinations are pairwise over all switches (allpairspy), so every value of every switch and
every pair of values is run at least once; one test per combination, each its own child.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from allpairspy import AllPairs
from killmatrix import EMBEDDED_ENV, CliRun, run_cli

from conformance.reference.switches import Switches, switch_choices

# error_status is free-form (200 or any 4xx); these stand for its classes.
ERROR_STATUSES = ("200", "400", "404")
# The values that stand for each free-form (whole-number) switch.
FREE_FORM = {"error_status": ERROR_STATUSES, "token_grace": ("0", "300"),
             "url_limit": ("0", "4000"), "calls_end": ("0", "90"),
             "next_hold": ("0", "1")}  # a held next: 1 s, within the hang limit
FULL_MATRIX_ENV = "KC_FULL_MATRIX"
FULL_TIMEOUT = 1800.0
# The Hypothesis part of each pairwise run, bounded by examples (not by time: see
# killmatrix.KILL_HYPOTHESIS); the full-matrix run keeps the defaults.
READINGS_HYPOTHESIS = ("--examples", "10")


def _values() -> dict[str, tuple[str, ...]]:
    return {name: choices or FREE_FORM[name] for name, choices in switch_choices().items()}


def combinations() -> list[tuple[str, ...]]:
    """Pairwise switch combinations as ``NAME=VALUE`` lists, the preferred reading first."""
    names, values = zip(*_values().items(), strict=True)
    pairs = [tuple(f"{n}={v}" for n, v in zip(names, row, strict=True))
             for row in AllPairs(list(values))]
    return [(), *pairs]


COMBINATIONS = combinations()


def _id(combination: tuple[str, ...]) -> str:
    return f"pairs-{COMBINATIONS.index(combination)}" if combination else "preferred"


def reading_args(combination: tuple[str, ...]) -> list[str]:
    """The user's quick suite at SHOULD level on the server with these switches; the
    Hypothesis part bounded (a false failure of the matrix needs no long search to show)."""
    args = ["--quick", "--level", "should", *READINGS_HYPOTHESIS]
    return args + [a for s in combination for a in ("--reference-switch", s)]


def test_combinations_cover_every_value_and_parse() -> None:
    seen = {item for combination in COMBINATIONS for item in combination}
    wanted = {f"{n}={v}" for n, vs in _values().items() for v in vs}
    assert wanted <= seen
    for combination in COMBINATIONS:
        Switches.parse(combination)  # every combination is a valid server


def assert_conformant(run: CliRun) -> None:
    failed = run.verdicts("fail")
    evidence = {r: run.requirement(r)["evidence"][:2] for r in failed}
    assert run.exit_code == 0, run.describe()
    assert failed == [], f"false failures under {run.args}: {evidence}"
    assert run.summary["verdict"] == "conformant"
    assert run.summary["internal_errors"] == [] and run.summary["aborted"] is None
    assert run.summary["untested_gating_requirements"] == [], run.summary
    assert run.leaks() == []


def assert_switches_reached_the_server(run: CliRun, combination: tuple[str, ...]) -> None:
    """KC-HTTP-005 reports the error status chosen (the preferred reading sets none)."""
    if combination:
        status = dict(s.split("=") for s in combination)["error_status"]
        observed = run.requirement("KC-HTTP-005")["observations"]
        reading = "200 with the error body" if status == "200" else "4xx with the error body"
        assert reading in observed, (combination, observed)


@pytest.mark.system
@pytest.mark.parametrize("combination", COMBINATIONS, ids=_id)
def test_allowed_reading_passes(combination: tuple[str, ...], tmp_path: Path) -> None:
    """Conformant with no failure at all, and the switches reached the server."""
    run = run_cli(reading_args(combination), tmp_path, env=EMBEDDED_ENV)
    assert_conformant(run)
    assert_switches_reached_the_server(run, combination)


@pytest.mark.system
@pytest.mark.timeout(FULL_TIMEOUT + 300)
@pytest.mark.skipif(not os.environ.get(FULL_MATRIX_ENV),
                    reason=f"the full matrix takes minutes: set {FULL_MATRIX_ENV}=1")
def test_full_matrix_passes_the_preferred_reading(tmp_path: Path) -> None:
    assert_conformant(run_cli(["--level", "should"], tmp_path, env=EMBEDDED_ENV,
                              timeout=FULL_TIMEOUT))
