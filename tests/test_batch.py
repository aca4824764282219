"""Batches of matrix cases: many calls' flags in one request, many requests in flight, and the
same verdicts as one case at a time.

Real exchanges with reference servers on loopback (in this process); a small HTTP server of
the test's own where the protocol must be broken or the requests in flight counted.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

import pytest

from conformance.batch import Batches, near_edge, run_case
from conformance.control import Control, ControlError
from conformance.matrix import all_cases
from conformance.model import Check, Flags
from conformance.pacing import Pacer
from conformance.redact import Redactor
from conformance.reference import ReferenceServer, Switches
from conformance.scenarios import ALL_SCENARIOS, EDGE_SCENARIOS, Numbering, build
from conformance.target import Credentials, Target
from conformance.transport import Client, Outbound, TransportSettings

SETTINGS = TransportSettings(retries=0, concurrency=8)


@contextmanager
def target_on(server: ReferenceServer, settings: TransportSettings = SETTINGS
              ) -> Iterator[Target]:
    credentials = Credentials(server.api_key, None, server.username, server.password,
                              server.open_api_key)
    with Client(settings, credentials.redactor()) as client:
        yield Target(server.api_url, credentials, client, Control(client, server.control_url))


def _calls(target: Target, count: int) -> list[str]:
    assert target.control is not None
    numbering = Numbering(7, 1)
    scenarios = [build("two-ongoing", numbering) for _ in range(count)]
    target.control.add_many(scenarios)
    return [c.call_id for s in scenarios for c in s.calls]


# --- POST {control}/flags ------------------------------------------------------------------
def test_many_calls_are_read_with_one_request_where_served() -> None:
    with ReferenceServer() as server, target_on(server) as target:
        assert target.control is not None
        ids = _calls(target, 3)
        before = target.client.control_requests
        read = target.control.read([*ids, "no-such-call"])
        assert target.client.control_requests - before == 1
        assert target.control.many is True
        assert {i: read[i] for i in ids} == dict.fromkeys(ids, Flags())
        assert isinstance(read["no-such-call"], ControlError)
        assert "missing" in str(read["no-such-call"])


@pytest.mark.parametrize("served", ["404", "405"])
def test_a_target_without_it_is_read_one_by_one_and_asked_once(
        served: Literal["404", "405"]) -> None:
    with ReferenceServer(Switches(flags_endpoint=served)) as server, \
            target_on(server) as target:
        assert target.control is not None
        ids = _calls(target, 2)
        before = target.client.control_requests
        first = target.control.read(ids)
        assert target.client.control_requests - before == 1 + len(ids)  # asked, then GETs
        assert target.control.many is False
        again = target.control.read(ids)
        assert target.client.control_requests - before == 1 + 2 * len(ids)  # not asked again
        assert first == again == dict.fromkeys(ids, Flags())


# POST /flags answers that break the protocol: each makes every call asked a ControlError.
BROKEN = {
    "order": b'{"calls": [{"callID": "b", "kept": false, "protected": false, "recording": false},'
             b' {"callID": "a", "kept": false, "protected": false, "recording": false}]}',
    "short": b'{"calls": [{"callID": "a", "kept": false, "protected": false, "recording": false}]}',
    "flag-missing": b'{"calls": [{"callID": "a", "kept": false, "protected": false}, '
                    b'{"callID": "b", "missing": true}]}',
    "not-json": b"<html>oops</html>",
}


class _Broken(BaseHTTPRequestHandler):
    body = b""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_a_broken_flags_answer_is_a_control_error_for_the_calls_asked(kind: str) -> None:
    handler = type("Handler", (_Broken,), {"body": BROKEN[kind]})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with Client(SETTINGS, Redactor()) as client:
            control = Control(client, f"http://127.0.0.1:{server.server_port}")
            read = control.read(["a", "b"])
            assert all(isinstance(v, ControlError) for v in read.values()), read
            assert control.many is True  # served, and broken: never the fallback
            with pytest.raises(ControlError, match="POST /flags"):
                control.flags(["a", "b"])
    finally:
        server.shutdown()
        server.server_close()


# --- many requests in flight ---------------------------------------------------------------
class _Gate(BaseHTTPRequestHandler):
    """Each request waits until LIMIT are in at once (a barrier): a client sending fewer at a
    time breaks it, and one sending more is counted."""

    barrier: threading.Barrier
    lock = threading.Lock()
    inside = 0
    most = 0

    def do_GET(self) -> None:
        cls = type(self)
        with cls.lock:
            cls.inside += 1
            cls.most = max(cls.most, cls.inside)
        try:
            cls.barrier.wait(timeout=10)
            status = 200
        except threading.BrokenBarrierError:
            status = 500
        with cls.lock:
            cls.inside -= 1
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_send_many_keeps_the_limit_in_flight_and_the_order() -> None:
    limit = 4
    handler: type[_Gate] = type("Gate", (_Gate,), {
        "barrier": threading.Barrier(limit), "inside": 0, "most": 0, "lock": threading.Lock()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with Client(replace(SETTINGS, concurrency=limit), Redactor()) as client:
            url = f"http://127.0.0.1:{server.server_port}/"
            sent = client.send_many([Outbound("GET", url, [("n", str(i))])
                                     for i in range(3 * limit)])
        assert [e.status for e, _ in sent] == [200] * (3 * limit)
        assert [e.url.rsplit("=", 1)[1] for e, _ in sent] == [str(i) for i in range(3 * limit)]
        assert handler.most == limit
        assert client.requests_sent == 3 * limit
    finally:
        server.shutdown()
        server.server_close()


def test_send_many_takes_a_slot_of_the_rate_per_request() -> None:
    """The pacer's clock stands still: the waits are exactly the slots, 1/rate apart."""
    rate = 200.0
    with ReferenceServer() as server:
        pacer = Pacer(rate, 30.0, clock=lambda: 100.0)
        with Client(SETTINGS, Redactor(), pacer) as client:
            sent = client.send_many([Outbound("GET", server.api_url)] * 5)
    assert [round(e.waited * rate, 6) for e, _ in sent] == [0.0, 1.0, 2.0, 3.0, 4.0]


# --- batches ---------------------------------------------------------------------------------
def test_calls_near_an_edge_run_alone() -> None:
    near = {name for name in ALL_SCENARIOS if near_edge(build(name, Numbering()))}
    assert near == {"finished-just-now", "upcoming-now", "upcoming-62s", "upcoming-boundary"}
    assert near <= {*EDGE_SCENARIOS, "upcoming-boundary"}


def _verdicts(checks: list[Check]) -> set[tuple[str, str]]:
    return {(c.requirement, c.verdict) for c in checks}


@pytest.mark.parametrize("switches", [Switches(), Switches(flags_endpoint="404"),
                                      Switches(defer_upcoming=True, next_pending=True)],
                         ids=["flags", "no-flags", "deferred"])
def test_a_batch_judges_every_case_as_alone(switches: Switches) -> None:
    """The same cases, one at a time and in batches of 64, on two servers alike: every case's
    checks the same; the batches with far fewer requests."""
    cases = [c for c in all_cases(quick=True) if c.part != "values"][::5]
    found, sent = [], []
    for size in (1, 8):
        with ReferenceServer(switches) as server, target_on(server) as target:
            numbering = Numbering(5)
            batches = Batches(target, numbering, cases, size)
            found.append({c.id: _verdicts(batches.result(c).checks) for c in cases})
            sent.append(target.client.requests_sent)
    assert found[0] == found[1]
    assert sent[1] < sent[0] * 0.6


def test_a_case_not_in_the_batches_runs_alone() -> None:
    case = all_cases(quick=True)[0]
    with ReferenceServer() as server, target_on(server) as target:
        batches = Batches(target, Numbering(1), [], 8)
        alone = run_case(target, case, Numbering(1))
        assert _verdicts(batches.result(case).checks) == _verdicts(alone.checks)
