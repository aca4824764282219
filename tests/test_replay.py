"""Replay says when it could not judge: a case not set up (no control URL), a target that is
not there, a request not answered. Each exits 3 with the reason, never 0 "passes now"; the
same case judged on a target that answers exits 0.

In process (``conformance.integration.cli.main``) against loopback servers: the embedded reference
server and a hostile one; the run's manifest is written here, as a run writes it."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from hostile import post_silent

from conformance.domain.matrix import Case, all_cases
from conformance.integration.cli import main
from conformance.reference import ReferenceServer
from conformance.reports.report import PART_NAME, write_part


def manifest(tmp_path: Path, case: Case) -> str:
    """A quick run's results.json path, its manifest recording ``case`` as failed."""
    write_part(tmp_path / PART_NAME, {
        "suite": {"quick": True, "seed": 0},
        "ledger": {"cases": {case.id: [["KC-FLAG-002", "fail", "not kept", 1]]},
                   "evidence": {}}})
    return str(tmp_path / "results.json")


def quick_case(scenario_calls: bool, method: str) -> Case:
    """A lookup case of the quick matrix, on a scenario with calls or on none."""
    return next(c for c in all_cases(True) if c.part == "lookup" and c.method == method
                and c.needs_fresh_scenario == scenario_calls)


@pytest.fixture(autouse=True)
def _no_secrets_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in os.environ if k.startswith("KEEPCALL_")]:
        monkeypatch.delenv(name)


def replayed(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["replay", *args])
    return code, capsys.readouterr().out


def test_a_case_needing_calls_without_a_control_url_is_not_judged(
        tmp_path: Path, reference: ReferenceServer, capsys: pytest.CaptureFixture[str]) -> None:
    case = quick_case(scenario_calls=True, method="GET")
    results = manifest(tmp_path, case)
    code, out = replayed(capsys, results, case.id, "--target", reference.api_url,
                         "--api-key", reference.api_key, "--username", reference.username,
                         f"--password={reference.password}")
    assert code == 3, out
    assert "could not judge:" in out and "--control-url" in out.split("could not judge:")[1]
    code, out = replayed(capsys, results, case.id, "--target", reference.api_url,
                         "--api-key", reference.api_key, "--username", reference.username,
                         f"--password={reference.password}", "--control-url",
                         reference.control_url)
    assert code == 0 and "could not judge" not in out, out  # set up: judged, and it passes


def test_a_target_that_is_not_there_is_not_judged(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    case = quick_case(scenario_calls=False, method="GET")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        code, out = replayed(capsys, manifest(tmp_path, case), case.id, "--target",
                             f"http://127.0.0.1:{closed.getsockname()[1]}/verba/api",
                             "--api-key", "k", "--token", "t")
    assert code == 3, out
    assert "could not judge: target unreachable" in out and "replayed:" not in out


def test_a_request_never_answered_fails(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """The target answers the preflight (a GET) and never the case's POST: it was reached and
    gave no answer, which is its failure (broken is failed), never "passes now"."""
    case = quick_case(scenario_calls=False, method="POST")
    with post_silent() as server:
        code, out = replayed(capsys, manifest(tmp_path, case), case.id, "--target",
                             f"{server.url}/verba/api", "--api-key", "k", "--token", "t",
                             "--timeout", "0.3")
    assert code == 1, out
    assert "KC-HTTP-002" in out and "got no whole answer" in out
    assert any(r.method == "POST" for r in server.requests)  # it was sent, not skipped
