"""The control protocol client: lenient with 2xx, a refused clock is "unsupported", and a
broken control endpoint is a ControlError (the case becomes not tested), never a crash."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conformance.client import Client, TransportSettings
from conformance.control import Control, ControlError
from conformance.redact import Redactor
from conformance.scenarios import Numbering, build

# (method, path) -> (status, body) of a control interface that bends the protocol a little
ANSWERS = {("PUT", "/fixtures"): (200, b""), ("POST", "/calls"): (201, b"{}"),
           ("POST", "/clock"): (501, b""),
           ("GET", "/calls/broken"): (500, b"oops")}


class _Handler(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        status, body = ANSWERS.get((self.command, self.path), (404, b""))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_POST = _answer

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def control() -> Iterator[Control]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with Client(TransportSettings(total_timeout=5), Redactor()) as client:
        yield Control(client, f"http://127.0.0.1:{server.server_address[1]}/")
    server.shutdown()


def test_any_2xx_is_taken_as_done(control: Control) -> None:
    control.reset()
    assert "curl" in control.add(build("ongoing-caller", Numbering()))


def test_a_refused_clock_is_unsupported(control: Control) -> None:
    assert control.advance(60) is False


@pytest.mark.parametrize("call_id", ["broken", "missing"])
def test_unreadable_flags_are_a_control_error(control: Control, call_id: str) -> None:
    with pytest.raises(ControlError, match=f"calls/{call_id}"):
        control.flags([call_id])
