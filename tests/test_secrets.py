"""No secret in any file or output, even from a target that echoes them back.

The reference server's ``echo`` switch quotes each request's query string and Authorization
header in every answer (raw, percent-decoded, as XML references, base64, in headers): still a
conformant target, so the run passes, and its HTML/TEXT answers reach cases.json.gz through the
wording comparison. The hostile ``echo`` server puts every credential in every form in every
place and breaks its answers (a failing run, evidence everywhere). Each run is scanned, gzip
unpacked, for every form of every secret (tests/canary.py), serially and with ``--workers``.
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from pathlib import Path

import pytest
from canary import scan
from hostile import API_PATH, ECHO_TOKEN, SERVERS
from killmatrix import API_KEY, LOGINS, OPEN_API_KEY, PASSWORD, USERNAME, CliRun, run_cli
from test_hostile_targets import LOGIN, LOGIN_ARGS
from test_hostile_targets import SECRETS as HOSTILE_SECRETS

from conformance.reference import ReferenceServer, Switches

pytestmark = pytest.mark.system  # each test runs the CLI in a child
WORKERS = ("--workers", "2")
PLACEHOLDERS = ("$KEEPCALL_API_KEY", "$KEEPCALL_TOKEN")


def _written(report_dir: Path) -> str:
    """Everything the run wrote, as text (gzip unpacked)."""
    texts = []
    for path in sorted(p for p in report_dir.rglob("*") if p.is_file()):
        data = path.read_bytes()
        texts.append((gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
                     .decode("utf-8", "replace"))
    return "\n".join(texts)


def _echoing_run(tmp_path: Path, more: Sequence[str]) -> tuple[CliRun, tuple[str, ...]]:
    """A quick run against the echoing reference server; the tokens it issued."""
    with ReferenceServer(Switches(echo=True), api_key=API_KEY, open_api_key=OPEN_API_KEY,
                         username=USERNAME, password=PASSWORD) as server:
        run = run_cli(["--quick", "--target", server.api_url, "--control-url",
                       server.control_url, "--api-key", API_KEY, "--open-api-key",
                       OPEN_API_KEY, "--username", USERNAME, "--password", PASSWORD, *more],
                      tmp_path)
        issued = tuple(server.store.tokens)
    return run, issued


@pytest.mark.parametrize("more", [(), WORKERS], ids=["serial", "workers"])
def test_a_conformant_target_that_echoes_credentials_leaks_nothing(
        tmp_path: Path, more: Sequence[str]) -> None:
    run, issued = _echoing_run(tmp_path, more)
    assert run.exit_code == 0, run.describe()
    assert issued, "the run never asked for a token"
    leaks = scan(tmp_path, (API_KEY, OPEN_API_KEY, PASSWORD, *issued), LOGINS, run.texts())
    assert leaks == [], leaks[:10]
    # The echo reached what was written, as placeholders: the scan had something to find.
    written = _written(tmp_path)
    assert all(p in written for p in PLACEHOLDERS), "no echo reached the reports"


def test_an_echoing_broken_target_leaks_nothing_with_workers(tmp_path: Path) -> None:
    """The hostile echo server, every credential in every form and place, with --workers."""
    with SERVERS["echo"]() as hostile:
        run = run_cli(["--target", hostile.url + API_PATH, *LOGIN_ARGS, *WORKERS], tmp_path)
    assert run.exit_code == 1, run.describe()
    leaks = scan(tmp_path, (*HOSTILE_SECRETS, ECHO_TOKEN, LOGIN[1]), [LOGIN], run.texts())
    assert leaks == [], leaks[:10]
    written = _written(tmp_path)
    assert all(p in written for p in (*PLACEHOLDERS, "$KEEPCALL_PASSWORD")), \
        "no echo reached the reports"
