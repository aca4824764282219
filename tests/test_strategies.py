"""The Hypothesis strategies: what they generate, and that the properties built on them find
single deviations of the reference server and pass the fault-free one."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from killmatrix import run_cli

from conformance.catalog.spec import RESPONSE_TYPES, STATUS_VALUES, TYPE_VALUES
from conformance.domain.oracle import expect
from conformance.domain.pools import odd_literal
from conformance.domain.scenarios import Numbering
from conformance.domain.strategies import Example, examples
from conformance.integration.search import Budget

_SEEN: Counter[str] = Counter()
_MEANINGFUL: Counter[bool] = Counter()


@settings(max_examples=600, database=None, derandomize=True, phases=(Phase.generate,),
          deadline=None,
          suppress_health_check=list(HealthCheck))
@given(examples())
def _collect(example: Example) -> None:
    scenario, request = example.instantiate(Numbering(1))
    for name, value in request.params:
        _SEEN[f"{name}={value}"] += 1
    _SEEN[f"method={request.method}"] += 1
    _SEEN[f"key={request.api_key.value}"] += 1
    names = [n for n, _ in request.params]
    _SEEN["duplicated"] += len(names) != len(set(names))
    _SEEN["long"] += any(len(v) > 1000 for _, v in request.params)
    _SEEN["non-ascii"] += any(not v.isascii() for _, v in request.params)
    _SEEN["prefix-numbers"] += len({len(n) for c in scenario.calls for n in c.parties()}) > 2
    _MEANINGFUL[bool(expect(request, scenario.calls, scenario.controlled).successes)] += 1


@pytest.fixture(scope="module")
def seen() -> Counter[str]:
    _collect()
    return _SEEN


def test_every_listed_value_is_generated(seen: Counter[str]) -> None:
    for value in (*(f"status={s}" for s in STATUS_VALUES), *(f"type={t}" for t in TYPE_VALUES),
                  *(f"responseType={r}" for r in RESPONSE_TYPES), "unmark=1",
                  "method=GET", "method=POST"):
        assert seen[value], value


def test_odd_values_are_generated_but_bounded(seen: Counter[str]) -> None:
    for odd in ("duplicated", "non-ascii", "key=missing", "key=invalid",
                "prefix-numbers"):
        assert seen[odd], odd
    assert _MEANINGFUL[True] > _MEANINGFUL[False], "most examples should reach a success"


def test_odd_literals_include_long_and_empty_values() -> None:
    assert len(find(odd_literal(), lambda v: len(v) > 1000)) > 1000
    assert find(odd_literal(), lambda v: v == "") == ""


def test_budget_shares_what_is_left() -> None:
    now = [0.0]
    budget = Budget(100, lambda: now[0])
    first = budget.share(0.5)
    now[0] = 49.0
    assert not first.passed
    now[0] = 50.0
    assert first.passed and budget.remaining() == 50.0
    assert not budget.share(1.0).passed


# --- the properties against the reference server, with and without single faults ---------
FAULTS = {"prefix-match": "KC-EXT-003", "next-window-5min": "KC-STATUS-003",
          "flag-on-wrong-call": "KC-FLAG-002", "flag-on-error": "KC-FLAG-001"}


# Bounded by examples (the default budget of time then never binds on a working machine), the
# server in the run's own process: what the searches find must not depend on load or the wire.
SEARCH_HYPOTHESIS = ("--examples", "30")


def _run(tmp_path: Path, *extra: str) -> tuple[int, dict[str, object], str]:
    report = tmp_path / "r"
    run = run_cli(["--quick", "-k", "properties or stateful", "--seed", "1", *SEARCH_HYPOTHESIS,
                   *extra], report, in_process=True)
    assert run.results is not None, run.describe()
    junit = (report / "junit.xml").read_text()
    return -1 if run.exit_code is None else run.exit_code, run.results, junit


@pytest.mark.system
def test_fault_free_reference_passes(tmp_path: Path) -> None:
    """Only the property-based part runs, so the verdict gates on what it tested."""
    code, data, _ = _run(tmp_path, "--allow-untested")
    assert code == 0, data["summary"]


@pytest.mark.system
@pytest.mark.parametrize("fault", list(FAULTS))
def test_properties_find_the_fault(tmp_path: Path, fault: str) -> None:
    code, data, junit = _run(tmp_path, "--reference-fault", fault)
    assert code == 1
    failed = data["summary"]["failed_requirements"]  # type: ignore[index]
    assert FAULTS[fault] in failed, failed
    # The shrunk example reads at a glance: one request with few parameters.
    requests = re.findall(r"curl -sS -G .*?(?=&#10;|\n|$)|curl -sS -X &quot;POST&quot; "
                          r"&quot;http://[^&]*/verba/api.*?(?=&#10;|\n|$)", junit)
    assert requests
    assert min(r.count("--data-urlencode") for r in requests) <= 7
