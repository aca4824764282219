"""No false failures: every reading the spec allows passes, at SHOULD level too.

The reference server's switches are the open points of docs/SEMANTICS.md; every value is an
allowed reading. The suite a user runs must find each combination conformant with no failed
requirement at all: a failure here is a bug of the suite (or of the oracle), not of the server.
Combinations are pairwise over all switches (allpairspy), so every value of every switch and
every pair of values is run at least once.
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from allpairspy import AllPairs
from killmatrix import EMBEDDED_ENV, WORKERS, CliRun, run_cli

from conformance.reference.switches import Switches, switch_choices

# error_status is free-form (200 or any 4xx); these stand for its classes.
ERROR_STATUSES = ("200", "400", "404")
# The values that stand for each free-form (whole-number) switch.
FREE_FORM = {"error_status": ERROR_STATUSES, "token_grace": ("0", "300"),
             "url_limit": ("0", "4000")}
FULL_MATRIX_ENV = "KC_FULL_MATRIX"


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


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, ...], CliRun]:
    base = tmp_path_factory.mktemp("readings")

    def one(combination: tuple[str, ...]) -> CliRun:
        args = ["--quick", "--level", "should"]
        args += [a for s in combination for a in ("--reference-switch", s)]
        return run_cli(args, base / _id(combination), env=EMBEDDED_ENV)

    with ThreadPoolExecutor(WORKERS) as pool:
        return dict(zip(COMBINATIONS, pool.map(one, COMBINATIONS), strict=True))


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


@pytest.mark.parametrize("combination", COMBINATIONS, ids=_id)
def test_allowed_reading_passes(runs: dict[tuple[str, ...], CliRun],
                                combination: tuple[str, ...]) -> None:
    assert_conformant(runs[combination])


def test_observations_follow_the_switches(runs: dict[tuple[str, ...], CliRun]) -> None:
    """Proof the switches reached the server: KC-HTTP-005 reports the error status chosen."""
    for combination, run in itertools.islice(runs.items(), 1, None):
        status = dict(s.split("=") for s in combination)["error_status"]
        observed = run.requirement("KC-HTTP-005")["observations"]
        assert set(observed) == {f"HTTP {status}"}, (combination, observed)


@pytest.mark.skipif(not os.environ.get(FULL_MATRIX_ENV),
                    reason=f"the full matrix takes minutes: set {FULL_MATRIX_ENV}=1")
def test_full_matrix_passes_the_preferred_reading(tmp_path: Path) -> None:
    assert_conformant(run_cli(["--level", "should"], tmp_path, env=EMBEDDED_ENV,
                              timeout=1800))
