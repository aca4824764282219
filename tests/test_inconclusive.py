"""No vacuous pass: a run that could not judge is inconclusive (exit 3), never conformant.

A target that is not there, one that dies during the run, and a run whose every case was
skipped must not produce a "pass" anywhere: requirements nobody judged are "not-tested", and a
run cut short by the circuit breaker says so in results.json.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostile import (
    API_PATH,
    SUCCESS,
    Server,
    _reset,
    read_request,
    refusing,
    response,
    serve,
)
from killmatrix import CliRun, run_cli

KEY = "kc-canary-inconclusive-KEY"
TOKEN = "kc-canary-inconclusive-TOKEN"
SECRETS = (KEY, TOKEN)
EXTERNAL = ["--api-key", KEY, "--token", TOKEN, "--quick", "--timeout", "2"]
pytestmark = pytest.mark.system  # each test runs the CLI in a child


@contextlib.contextmanager
def dies_after(answers: int, gone: bool = False) -> Iterator[Server]:
    """Answers ``answers`` requests with the success envelope, then resets every connection
    (the server is there and drops requests) or, ``gone``, dies: stops listening, and its
    open keep-alive connections die with it, so a request in flight on one of them is never
    read (several are open once the suite has requests in flight together)."""
    lock = threading.Lock()

    def handler(conn: socket.socket, server: Server) -> None:
        while (request := read_request(conn)) is not None:
            with lock:
                if not server.state.get("dead"):
                    server.requests.append(request)
                if len(server.requests) > answers:
                    server.state["dead"] = gone
                    if gone:
                        _die(server)
                    _reset(conn, server)
                    return
            conn.sendall(response("200 OK", SUCCESS, {"Content-Type": "text/xml"}))
    with serve(handler) as server:
        yield server


def _die(server: Server) -> None:
    """Stop listening and close every connection, as a process that died."""
    server.close_listener()
    for sock in server.sockets:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def assert_inconclusive(run: CliRun, reason: str) -> None:
    assert run.exit_code == 3, run.describe()
    assert run.summary["verdict"] == "inconclusive"
    assert reason in (run.summary["aborted"] or ""), run.summary
    assert "VERDICT: INCONCLUSIVE" in run.stdout
    assert run.leaks(SECRETS, ()) == []


def test_unreachable_target_is_inconclusive(tmp_path: Path) -> None:
    with refusing() as url:
        run = run_cli(["--target", url + API_PATH, *EXTERNAL], tmp_path)
    assert_inconclusive(run, "target unreachable")
    assert run.verdicts("pass") == []
    assert run.summary["cases"] == 0


@pytest.mark.parametrize("answers", [1, 6], ids=["after-preflight", "mid-run"])
def test_a_target_gone_trips_the_circuit_breaker(tmp_path: Path, answers: int) -> None:
    """It stopped listening: the requests never reach a server, nothing more is judged."""
    with dies_after(answers, gone=True) as server:
        run = run_cli(["--target", server.url + API_PATH, *EXTERNAL], tmp_path)
        received = len(server.requests)
    assert_inconclusive(run, "circuit breaker")
    assert run.summary["transport_failures"] >= 5
    assert received <= answers + 1, received
    if answers == 1:
        assert run.verdicts("pass") == []


@pytest.mark.parametrize("answers", [1, 6], ids=["after-preflight", "mid-run"])
def test_a_target_resetting_every_request_fails(tmp_path: Path, answers: int) -> None:
    """Still there, dropping every request: broken is failed, not "unreachable". The run
    stops at the circuit breaker, cut short, with the drops as the evidence."""
    with dies_after(answers) as server:
        run = run_cli(["--target", server.url + API_PATH, *EXTERNAL], tmp_path)
        received = len(server.requests)
    assert run.exit_code == 1, run.describe()
    assert run.summary["verdict"] == "not-conformant"
    assert "circuit breaker" in (run.summary["cut_short"] or ""), run.summary
    failed = set(run.summary["failed_requirements"]) & {"KC-HTTP-001", "KC-HTTP-002"}
    assert failed, run.describe()
    evidence = [e for r in sorted(failed) for e in run.requirement(r)["evidence"]]
    assert evidence and all("reset" in e["message"] and e["curl"] for e in evidence)
    # Stopped within a few requests of the death, not after the whole matrix.
    assert received <= answers + 2 * 10, received
    assert run.leaks(SECRETS, ()) == []


def test_every_case_skipped_is_never_a_pass(tmp_path: Path) -> None:
    """Open-key cases need a key the run was not given: all skip, nothing may pass."""
    with dies_after(10_000) as server:
        run = run_cli(["--target", server.url + API_PATH, *EXTERNAL, "-k", "open-key"],
                      tmp_path)
        received = len(server.requests)
    assert received == 1  # the preflight only: no case reached the target
    assert run.verdicts("pass") == [], run.verdicts("pass")
    assert run.summary["verdict"] != "conformant", run.describe()
    assert run.exit_code == 3, run.describe()
