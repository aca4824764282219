"""The probes of what the page leaves to the target: what they find, and why they found
nothing when they broke off (reported with the run, never dropped)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from reference_helpers import started

from conformance.domain.scenarios import Numbering
from conformance.integration.plugin import start_session
from conformance.integration.settings import Options, resolve
from conformance.reference.server import ReferenceServer
from conformance.wire.control import Control
from conformance.wire.dialect import probe
from conformance.wire.redact import Redactor
from conformance.wire.target import Credentials, Target
from conformance.wire.transport import Client, TransportSettings


class _BrokenCalls(BaseHTTPRequestHandler):
    """A control interface that resets, then fails every call set up: a 500."""

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status = 204 if self.path.endswith("/fixtures") else 500
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_PUT = do_POST = _answer

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def broken_control() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _BrokenCalls)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                     daemon=True).start()  # shutdown() then waits 20 ms, not 0.5 s
    yield f"http://127.0.0.1:{server.server_address[1]}/control"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def reference() -> Iterator[ReferenceServer]:
    with started(ReferenceServer()) as server:
        yield server


def _target(server: ReferenceServer, client: Client, control_url: str) -> Target:
    credentials = Credentials(server.api_key, None, server.username, server.password)
    return Target(server.api_url, credentials, client, Control(client, control_url))


def test_the_reference_server_is_probed(reference: ReferenceServer) -> None:
    with Client(TransportSettings(), Redactor()) as client:
        dialect = probe(_target(reference, client, reference.control_url), Numbering())
    assert dialect.post_served and dialect.spellings and dialect.problem is None


def test_a_probe_the_control_protocol_broke_says_why(reference: ReferenceServer,
                                                     broken_control: str) -> None:
    with Client(TransportSettings(), Redactor()) as client:
        dialect = probe(_target(reference, client, broken_control), Numbering())
    assert dialect.post_served is None and dialect.spellings is None
    assert dialect.problem is not None and "control protocol: POST /calls" in dialect.problem


def test_the_run_reports_a_probe_that_broke_off(reference: ReferenceServer,
                                                broken_control: str, tmp_path: Path) -> None:
    settings = resolve(Options(target=reference.api_url, control_url=broken_control,
                               api_key=reference.api_key, report_dir=str(tmp_path)), {})
    session = start_session(settings)
    session.target.client.close()
    assert session.ledger.aborted is None
    assert [n for n in session.ledger.suite_notes if "not probed" in n and "500" in n]
