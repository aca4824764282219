"""Hostile targets survived: the CLI against every server of tests/hostile.py.

For each: the run ends by itself (a generous hang detector kills it otherwise), its memory stays
bounded, it never answers 0, it names what failed or why it stopped, with evidence, nothing is
fetched on a document's behalf, no redirect is followed, and no secret is written or printed.
One test per server; the rows become reports/hostile-targets.json (tests/session_reports.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass
from pathlib import Path

import pytest
from hostile import API_PATH, ECHO_CAP, ECHO_TOKEN, SERVERS, Server, redirect, xxe_network
from killmatrix import CliRun, run_cli
from session_reports import HOSTILE_TARGETS, record_row

from conformance.domain.breaker import TRIP_AFTER

KEY = "kc-canary-hostile-KEY/1+2 3&x"
TOKEN = "kc-canary-hostile-TOKEN%20;t"
SECRETS = (KEY, TOKEN)
LOGIN = ("kc-canary-user", "kc-canary-hostile-PASS:w0rd/\u00fc &<x>")
CAP = ECHO_CAP
ARGS = ["--api-key", KEY, "--token", TOKEN, "--quick", "--timeout", "2",
        "--max-response-bytes", str(CAP)]
MAX_RSS_MB = 500
HANG_SECONDS = 300.0
PASSWD = b"root:x:0:0"


@dataclass(frozen=True)
class Expected:
    """The exit code, and what results.json must name: a failed requirement (one of several,
    joined by |) or an abort."""

    exit_code: int
    failed: str | None = None
    aborted: str | None = None


EXPECTED: dict[str, Expected] = {
    "billion-laughs": Expected(1, failed="KC-XML-001"),
    "quadratic-blowup": Expected(1, failed="KC-XML-001"),
    "xxe-file": Expected(1, failed="KC-XML-001"),
    "xxe-network": Expected(1, failed="KC-XML-001"),
    "huge-body": Expected(1, failed="KC-XML-001"),
    "endless-chunked": Expected(1, failed="KC-RT-001"),
    # Reached, and the answer broke: the target's failure, never "unreachable".
    "trickle-all": Expected(1, failed="KC-HTTP-001"),
    "trickle-body": Expected(1, failed="KC-HTTP-001"),
    "reset": Expected(1, failed="KC-HTTP-001"),
    "close-without-answer": Expected(1, failed="KC-HTTP-001"),
    "not-http": Expected(1, failed="KC-HTTP-001"),
    # A 5xx is SHOULD (the notes judge by the body); errors are what no-call cases expect.
    "html-500": Expected(1, failed="KC-RT-001"),  # a crash page is no answer in the envelope
    "latin1-declared-utf8-body": Expected(1, failed="KC-RT-003"),  # the header is observed
    "utf8-declared-latin1-body": Expected(1, failed="KC-XML-001"),
    "redirect": Expected(1, failed="KC-HTTP-001"),  # not served at the URL given
    "doctype": Expected(1, failed="KC-RT-003"),  # a DOCTYPE is observed, never loaded
    "invalid-utf8": Expected(1, failed="KC-XML-001"),
    "retry-after": Expected(1),
    "gzip-bomb": Expected(1, failed="KC-HTTP-001"),  # 2 KB inflating to a GiB: cut at the cap
    "post-silent": Expected(1, failed="KC-HTTP-002"),  # its class's breaker trips
    "deflate-bomb": Expected(1, failed="KC-HTTP-001"),
    "stall-after-headers": Expected(1, failed="KC-HTTP-001"),
    # each retry recovers: a pattern, failing the clause of the method the third reset meets
    # (which request that is follows the suite's order: either method's clause)
    "reset-every-3rd": Expected(1, failed="KC-HTTP-001|KC-HTTP-002"),
    "echo": Expected(1, failed="KC-XML-001"),  # an answer cut by the byte cap
}


@dataclass
class Outcome:
    run: CliRun
    hostile: Server
    witness: Server | None


@contextlib.contextmanager
def _with_witness(name: str) -> Iterator[tuple[Server, Server | None]]:
    """The hostile server, and the recorder it points at (XXE fetch, redirect) if any."""
    pairs: dict[str, ContextManager[tuple[Server, Server]]] = {
        "xxe-network": xxe_network(), "redirect": redirect()}
    if name in pairs:
        with pairs[name] as pair:
            yield pair
    else:
        with SERVERS[name]() as server:
            yield server, None


# The echo server gets a login, so that it can echo the password and the Basic header too.
LOGIN_ARGS = ["--api-key", KEY, "--username", LOGIN[0], "--password", LOGIN[1], *ARGS[4:]]
ARGS_FOR = {"echo": LOGIN_ARGS}
# Servers that stall: what is tested is that the run survives the stall (it ends, names the
# failure), not how long a deadline is, and each request waits its deadline out (5 requests at
# 2 s made 10 s a run). Theirs is short: no answer of theirs can be whole within any deadline
# (a trickle's bytes still come faster than --read-timeout), except post-silent's prompt GET
# answers, which must stay within it on a loaded machine.
STALL_DEADLINES = {"trickle-all": 0.5, "trickle-body": 0.5, "stall-after-headers": 0.5,
                   "post-silent": 1.0}


def run_against(name: str, report_dir: Path, more: Sequence[str] = ()) -> Outcome:
    """The CLI against the hostile server ``name`` (and its witness, if it has one)."""
    with _with_witness(name) as (hostile, witness):
        deadline = STALL_DEADLINES.get(name)
        args = [*ARGS_FOR.get(name, ARGS), *(["--timeout", f"{deadline:g}"] if deadline else [])]
        run = run_cli(["--target", hostile.url + API_PATH, *args, *more], report_dir,
                      timeout=HANG_SECONDS)
        return Outcome(run, hostile, witness)


def summary_row(run: CliRun) -> dict[str, object]:
    """reports/hostile-targets.json: how the run ended, how long it took, its peak memory."""
    return {"exit": run.exit_code, "seconds": round(run.seconds, 1),
            "max_rss_mb": round(run.max_rss_mb), "aborted": run.summary.get("aborted"),
            "failed": run.summary.get("failed_requirements")}


def test_every_hostile_server_has_an_expectation() -> None:
    assert set(EXPECTED) == set(SERVERS)


def assert_bounded_and_clear(name: str, run: CliRun) -> None:
    """Ended by itself, memory bounded, never conformant, the failure or abort named."""
    expected = EXPECTED[name]
    assert not run.hung, f"{name}: still running after {HANG_SECONDS:g} s"
    assert run.max_rss_mb < MAX_RSS_MB, f"{name}: {run.max_rss_mb:.0f} MB"
    assert run.exit_code == expected.exit_code, run.describe()
    assert run.results is not None
    assert run.summary["verdict"] != "conformant"
    if expected.failed:  # one of these (|)
        failed = [r for r in expected.failed.split("|") if r in run.summary["failed_requirements"]]
        assert failed, run.describe()
        evidence = run.requirement(failed[0])["evidence"]
        assert evidence and all(e["message"] and e["curl"] for e in evidence)
    if expected.aborted:
        assert expected.aborted in (run.summary["aborted"] or ""), run.describe()


def assert_nothing_fetched_or_followed(outcome: Outcome) -> None:
    """The witness of an external entity or a redirect target is never contacted."""
    witness = outcome.witness
    assert witness is not None and outcome.hostile.requests
    assert not witness.contacted, witness.requests


def assert_external_file_not_resolved(outcome: Outcome) -> None:
    """/etc/passwd, named by an external entity, is in nothing written or printed."""
    run = outcome.run
    written = [p for p in Path(run.report_dir).rglob("*") if p.is_file()]
    assert written and not any(PASSWD in p.read_bytes() for p in written)
    assert PASSWD.decode() not in run.stdout + run.stderr


def assert_post_class_stopped(outcome: Outcome) -> None:
    """A target that never answers POST gets a few POSTs, then none: the run stays bounded
    whatever the timeout (a count, not a clock: these machines are noisy)."""
    posts = [r for r in outcome.hostile.requests if r.method == "POST"]
    assert 0 < len(posts) <= TRIP_AFTER + 1, len(posts)
    evidence = outcome.run.requirement("KC-HTTP-002")["evidence"]
    assert any("no answer to 3 POST requests in a row" in e["message"] for e in evidence)


# Checks only some servers can fail, by server name.
EXTRA_CHECKS: dict[str, Callable[[Outcome], None]] = {
    "xxe-network": assert_nothing_fetched_or_followed,
    "redirect": assert_nothing_fetched_or_followed,
    "xxe-file": assert_external_file_not_resolved,
    "post-silent": assert_post_class_stopped,
}


@pytest.mark.system
@pytest.mark.parametrize("name", sorted(SERVERS))
def test_hostile_server_is_survived(name: str, tmp_path: Path,
                                    record_property: Callable[[str, object], None]) -> None:
    """One run per server: bounded, clear, no secret written or printed, plus its own checks."""
    outcome = run_against(name, tmp_path)
    record_row(record_property, HOSTILE_TARGETS, name, summary_row(outcome.run))
    assert_bounded_and_clear(name, outcome.run)
    assert outcome.run.leaks((*SECRETS, ECHO_TOKEN, LOGIN[1]), [LOGIN]) == []
    extra_check = EXTRA_CHECKS.get(name)
    if extra_check is not None:
        extra_check(outcome)
