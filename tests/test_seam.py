"""The transport seam: a run served in its own process judges as a run over TCP does.

Most system tests (the kill matrix, the readings, the searches, the gates, scale, the report
page) run the embedded reference server inside the run's process, over httpx's ASGITransport
(``conformance.integration.plugin.serve_in_process``), because the wire is not what they test.
That is only sound if the verdicts do not depend on it: here the same seeded runs go both ways,
on the preferred server, on one with a fault and on one with other readings, and every requirement's
verdict, failed and untested cases and observations must be equal. The readings' run in process
is tests/test_readings.py's row, made once for both tests (tests/shared_runs.py).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from killmatrix import EMBEDDED_ENV, PREFERRED_QUICK, CliRun, run_cli
from shared_runs import shared_run
from test_readings import COMBINATIONS, reading_args

pytestmark = pytest.mark.system

QUICK = list(PREFERRED_QUICK)
# name -> the run's options: the readings' are a row of tests/test_readings.py, one holding next
SERVERS: dict[str, list[str]] = {
    "preferred": QUICK,
    "fault": [*QUICK, "--reference-fault", "non-utf8-500"],  # raw bytes: the wire's own subject
    "readings": reading_args(COMBINATIONS[1]),
}


def judged(run: CliRun) -> dict[str, tuple[Any, ...]]:
    """What a run decided, requirement by requirement: each verdict, its failed and untested
    cases and the readings observed (how often each was seen is left out, as in
    tests/test_scale.py: an edge case's timing on a loaded machine may add a check)."""
    assert run.results is not None, run.describe()
    return {r["id"]: (r["verdict"], r["failed"], r.get("not_tested"), sorted(r["observations"]))
            for r in run.results["requirements"]}


@pytest.mark.parametrize("server", list(SERVERS))
def test_verdicts_are_the_same_in_process_and_over_tcp(
        server: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Both runs at once: they mostly wait (the readings' server holds each next, the other
    run is another test's, made or being made)."""
    args = SERVERS[server]
    with ThreadPoolExecutor(2) as both:
        tcp_run = both.submit(run_cli, args, tmp_path / "tcp", env=EMBEDDED_ENV)
        inside = shared_run(tmp_path_factory, args, env=EMBEDDED_ENV, in_process=True)
        tcp = tcp_run.result()
    assert inside.target["url"] != tcp.target["url"]  # each went its own way
    assert (inside.exit_code, inside.summary["verdict"]) == (tcp.exit_code, tcp.summary["verdict"])
    assert judged(inside) == judged(tcp)
