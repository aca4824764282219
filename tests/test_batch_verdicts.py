"""Verdicts identical whatever the batching: one case at a time, batches of 64 and of 512, with
``POST {control}/flags`` served and answered 404 or 405 (the fallback, one GET per call), on
the reference server; on the servers others wrote from the spec (tests/independent/, which
do not serve /flags: the fallback path) in tests/test_independent.py, beside the other runs
of each. Each run is the CLI in a child: system lane.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest
from killmatrix import EMBEDDED_ENV, PREFERRED_QUICK, CliRun
from shared_runs import shared_run
from test_independent import verdicts

pytestmark = pytest.mark.system

# name -> the options of a --quick run of the embedded reference server (killmatrix.PREFERRED_QUICK:
# its searches bounded by examples, as the kill matrix's are: the batching is the subject, and a
# time budget, 10 s each before, was CPU spent searching and made what a run found follow the
# machine's load)
RUNS: dict[str, tuple[str, ...]] = {
    "serial": ("--concurrency", "1"),
    "batches": (),  # the default: --concurrency 8, batches of 64
    "large-batches": ("--concurrency", "64"),  # batches of 512
    "no-flags-404": ("--reference-switch", "flags_endpoint=404"),
    "no-flags-405-serial": ("--reference-switch", "flags_endpoint=405", "--concurrency", "1"),
}


def all_at_once(runs: Mapping[str, Sequence[str]], factory: pytest.TempPathFactory
                ) -> dict[str, CliRun]:
    """The runs side by side, each against its own embedded server: what one spends waiting
    (server start, answers, read-backs) the others use. Each serves it in its own process: the
    batching is the subject, not the wire (tests/test_seam.py shows the verdicts equal), and
    the independent servers of tests/test_independent.py take the batches over TCP. The
    default batching's run is other tests' too (tests/shared_runs.py)."""
    with ThreadPoolExecutor(len(runs)) as pool:
        started = {name: pool.submit(shared_run, factory, args, env=EMBEDDED_ENV,
                                     in_process=True)
                   for name, args in runs.items()}
        return {name: run.result() for name, run in started.items()}


@pytest.fixture(scope="module")
def reference_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CliRun]:
    return all_at_once({name: [*PREFERRED_QUICK, *args] for name, args in RUNS.items()},
                       tmp_path_factory)


def test_the_reference_server_gets_the_same_verdicts_every_way(
        reference_runs: dict[str, CliRun]) -> None:
    serial = verdicts(reference_runs["serial"])
    assert {name: run.exit_code for name, run in reference_runs.items()} == dict.fromkeys(
        RUNS, 0)
    assert {name: verdicts(run) == serial for name, run in reference_runs.items()} == \
        dict.fromkeys(RUNS, True)


@pytest.fixture(scope="module")
def matrix_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CliRun]:
    """The quick matrix alone: its requests do not depend on the time the searches get."""
    return all_at_once({name: ["--quick", "-k", "test_case", *args]
                        for name, args in RUNS.items() if name != "large-batches"},
                       tmp_path_factory)


def test_batches_and_post_flags_cut_the_requests(matrix_runs: dict[str, CliRun]) -> None:
    """The counters results.json keeps: requests to the API and to the control URL add up,
    and batched matrix cases send far fewer control requests per case than serial ones, with
    ``POST /flags`` and without it (one GET per call either way, the issue's "today's
    per-call reads": fewer in a batch, never as few as with /flags). The matrix alone: a
    whole run's searches make as many requests as their time budget lets them, one case at
    a time, so a whole run's ratio follows the machine's load."""
    targets = {name: run.results["target"] for name, run in matrix_runs.items()
               if run.results is not None}
    assert targets.keys() == matrix_runs.keys()
    for target in targets.values():
        assert target["api_requests"] + target["control_requests"] == target["requests_sent"]
    per_case = {name: target["control_requests"] / target["api_requests"]
                for name, target in targets.items()}
    assert per_case["batches"] < per_case["serial"] / 2
    assert per_case["no-flags-404"] < per_case["no-flags-405-serial"]

