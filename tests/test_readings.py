"""No false failures: every reading the spec allows passes, at SHOULD level too.

The reference server's switches are the open points of docs/SEMANTICS.md; every value is an
allowed reading. The suite a user runs must find each combination conformant with no failed
requirement at all: a failure here is a bug of the suite (or of the oracle), not of the server.
The combinations are the preferred reading and the rows of a covering array checked in as data
(tests/readings-pairs.json, built by tests/covering.py): every pair of values of any two
switches is run at least once. One test per combination, each its own child, the server in the
run's own process (the wire is not what a reading tests).
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest
from covering import PAIRS_FILE, load, uncovered, values
from killmatrix import EMBEDDED_ENV, CliRun, run_cli
from shared_runs import shared_run

from conformance.integration.options import BY_NAME
from conformance.reference.switches import Switches

FULL_MATRIX_ENV = "KC_FULL_MATRIX"
FULL_TIMEOUT = 1800.0
# The Hypothesis part of each run, bounded by examples (not by time: see
# killmatrix.KILL_HYPOTHESIS); the full-matrix run keeps the defaults.
READINGS_HYPOTHESIS = ("--examples", "10")
# A row holding next (next_hold) waits its hold out on each status=next request that finds
# no call or an upcoming one, one at a time in the searches and in the matrix's batches (a slow
# batch shrinks the next one): a row took 50-60 s of mostly waiting, against 6-9 s for another.
# Its run is split among workers (verdicts equal a serial run's: tests/test_scale.py), whose
# waits overlap: 53 s -> 17 s measured, at the same CPU. Other rows gain nothing from it. The
# workers divide the run's --budget among them: each is given a whole run's, so that the
# examples bound the searches as in a serial run (15 s a part cut the window search to 4 of 10).
WORKERS = 4
HELD_NEXT = ("--workers", str(WORKERS), "--budget", f"{WORKERS * BY_NAME['budget'].default:g}")
REGENERATE = f"regenerate {PAIRS_FILE.name} with: python tests/covering.py"


def combinations() -> list[tuple[str, ...]]:
    """The preferred reading (no switch given), then the covering array's rows, as
    ``NAME=VALUE`` lists."""
    return [(), *(tuple(f"{name}={value}" for name, value in row.items()) for row in load())]


COMBINATIONS = combinations()


def _id(combination: tuple[str, ...]) -> str:
    return f"pairs-{COMBINATIONS.index(combination)}" if combination else "preferred"


def reading_args(combination: tuple[str, ...]) -> list[str]:
    """The user's quick suite at SHOULD level on the server with these switches; the
    Hypothesis part bounded (a false failure of the matrix needs no long search to show)."""
    args = ["--quick", "--level", "should", *READINGS_HYPOTHESIS, *overlapped(combination)]
    return args + [a for s in combination for a in ("--reference-switch", s)]


def overlapped(combination: tuple[str, ...]) -> tuple[str, ...]:
    """The options that overlap the waits of a server holding next (none for another)."""
    return HELD_NEXT if Switches.parse(combination).next_hold else ()


def reading_run(combination: tuple[str, ...], factory: pytest.TempPathFactory) -> CliRun:
    """The combination's run, made once per session (tests/test_seam.py reads one too)."""
    return shared_run(factory, reading_args(combination), env=EMBEDDED_ENV, in_process=True)


def test_the_rows_hold_every_pair_of_readings() -> None:
    """Each row sets every switch to one of its values; any two values of any two switches
    meet in some row; and every row is a server the reference can be."""
    rows, domains = load(), values()
    assert [sorted(row) for row in rows] == [sorted(domains)] * len(rows), REGENERATE
    assert all(row[name] in domains[name] for row in rows for name in row), REGENERATE
    assert uncovered(domains, rows) == [], REGENERATE
    for combination in COMBINATIONS:
        Switches.parse(combination)


def test_a_pair_missing_is_found_though_each_value_is_there() -> None:
    """The check above looks at pairs, not values: rows holding one pair taken away, each of
    its two values still in some row, that pair is reported missing."""
    rows, domains = load(), values()
    first, second = list(domains)[:2]
    for a, b in itertools.product(domains[first], domains[second]):
        left = [row for row in rows if (row[first], row[second]) != (a, b)]
        if {row[first] for row in left} >= {a} and {row[second] for row in left} >= {b}:
            assert (first, a, second, b) in uncovered(domains, left)
            return
    raise AssertionError("no pair whose values all appear elsewhere")


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
def test_allowed_reading_passes(combination: tuple[str, ...],
                                tmp_path_factory: pytest.TempPathFactory) -> None:
    """Conformant with no failure at all, and the switches reached the server."""
    run = reading_run(combination, tmp_path_factory)
    assert_conformant(run)
    assert_switches_reached_the_server(run, combination)


@pytest.mark.system
@pytest.mark.timeout(FULL_TIMEOUT + 300)
@pytest.mark.skipif(not os.environ.get(FULL_MATRIX_ENV),
                    reason=f"the full matrix takes minutes: set {FULL_MATRIX_ENV}=1")
def test_full_matrix_passes_the_preferred_reading(tmp_path: Path) -> None:
    assert_conformant(run_cli(["--level", "should"], tmp_path, env=EMBEDDED_ENV,
                              timeout=FULL_TIMEOUT, in_process=True))
