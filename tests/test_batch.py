"""Batches of matrix cases: many calls' flags in one request, many requests in flight, and the
same verdicts as one case at a time.

Real exchanges with reference servers on loopback (in this process); a small HTTP server of
the test's own where the protocol must be broken or the requests in flight counted.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

import pytest
from hostile import API_PATH, SUCCESS, Server, _reset, read_request, reset, response, serve
from reference_helpers import started

from conformance.domain.matrix import Case, all_cases
from conformance.domain.model import Check, Flags
from conformance.domain.scenarios import ALL_SCENARIOS, EDGE_SCENARIOS, Numbering, build
from conformance.integration.session import IN_PROCESS_BASE
from conformance.reference import ReferenceServer, Switches
from conformance.reference.app import CONTROL_PREFIX
from conformance.running.batch import (
    BATCH_SECONDS,
    UNSENT,
    Batches,
    near_edge,
    next_window,
    run_case,
)
from conformance.running.runner import Result
from conformance.wire.control import Control, ControlError
from conformance.wire.pacing import Pacer
from conformance.wire.redact import Redactor
from conformance.wire.seam import in_process
from conformance.wire.target import Credentials, Target
from conformance.wire.transport import Client, Outbound, TransportSettings

# verify=False: plain HTTP on loopback, so no CA bundle to load for each client (as
# reference_helpers.running).
SETTINGS = TransportSettings(retries=0, concurrency=8, verify=False)
# serve_forever looks for shutdown() this often (its default, half a second, is a wait per test).
QUICK_STOP = {"poll_interval": 0.02}


@contextmanager
def target_on(server: ReferenceServer, settings: TransportSettings = SETTINGS,
              api: str | None = None, control: str | None = None,
              inside: bool = False) -> Iterator[Target]:
    """The reference server as a target; ``api``/``control``: that URL in its place (a
    misbehaving API behind a working control URL, or the other way round), with a token
    given (none is asked of a misbehaving API). ``inside``: the server, not started, served in
    this process over the seam (no socket, no thread), where the wire is not the subject."""
    credentials = (Credentials(server.api_key, None, server.username, server.password,
                               server.open_api_key) if api is None
                   else Credentials(server.api_key, "kc-given-token"))
    base = IN_PROCESS_BASE if inside else server.base_url
    transport = in_process(server.app) if inside else None
    with Client(settings, credentials.redactor(), transport=transport) as client:
        yield Target(api or base + API_PATH, credentials, client,
                     Control(client, control or base + CONTROL_PREFIX))


def _calls(target: Target, count: int) -> list[str]:
    assert target.control is not None
    numbering = Numbering(7, 1)
    scenarios = [build("two-ongoing", numbering) for _ in range(count)]
    target.control.add_many(scenarios)
    return [c.call_id for s in scenarios for c in s.calls]


# --- POST {control}/flags ------------------------------------------------------------------
def test_many_calls_are_read_with_one_request_where_served() -> None:
    with started(ReferenceServer()) as server, target_on(server) as target:
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
    with started(ReferenceServer(Switches(flags_endpoint=served))) as server, \
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
    thread = threading.Thread(target=server.serve_forever, kwargs=QUICK_STOP, daemon=True)
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
    threading.Thread(target=server.serve_forever, kwargs=QUICK_STOP, daemon=True).start()
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
    with started(ReferenceServer()) as server:
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
    for size in (1, 8):  # in process: the batches are the subject, not the wire
        with target_on(ReferenceServer(switches), inside=True) as target:
            numbering = Numbering(5)
            batches = Batches(target, numbering, cases, size)
            found.append({c.id: _verdicts(batches.result(c).checks) for c in cases})
            sent.append(target.client.requests_sent)
    assert found[0] == found[1]
    assert sent[1] < sent[0] * 0.6


def test_a_case_not_in_the_batches_runs_alone() -> None:
    case = all_cases(quick=True)[0]
    with started(ReferenceServer()) as server, target_on(server) as target:
        batches = Batches(target, Numbering(1), [], 8)
        alone = run_case(target, case, Numbering(1))
        assert _verdicts(batches.result(case).checks) == _verdicts(alone.checks)


# --- a target that dies or breaks during a batch ---------------------------------------------
def _together(count: int) -> list[Case]:
    """Lookup cases that run together (no call near an edge)."""
    return [c for c in all_cases(quick=True) if c.part == "lookup"
            and not near_edge(c.instantiate(Numbering())[0])][:count]


def _broken_answer(result: Result) -> bool:
    """The case failed the clause of its method with the reset as the evidence."""
    return any(c.verdict == "fail" and c.requirement in ("KC-HTTP-001", "KC-HTTP-002")
               and "reset" in c.message for c in result.checks)


def test_send_many_starts_no_request_once_told_to_stop() -> None:
    """``stop`` is latched: asked True once, nothing more starts; the ones sent come first."""
    answers = iter([False, False, True, False, False])
    with started(ReferenceServer()) as server, Client(SETTINGS, Redactor()) as client:
        sent = client.send_many([Outbound("GET", server.api_url)] * 5, limit=1,
                                stop=lambda: next(answers))
    assert len(sent) == client.requests_sent == 2


def test_a_circuit_opening_in_a_batch_stops_it_and_keeps_what_was_sent() -> None:
    """Every request reset: once 5 in a row failed no further request starts (those in flight
    end), nothing is read back or probed, every case sent fails its method's clause with the
    reset as evidence, and the others are not sent."""
    cases = _together(64)
    with started(ReferenceServer()) as server, reset() as dead, \
            target_on(server, api=dead.url + API_PATH) as target:
        target.breakers.circuit = 5
        batches = Batches(target, Numbering(3), cases, 8)
        batches.window = 8
        results = [batches.result(c) for c in cases]
        client = target.client
    sent = [r for r in results if r.exchange is not None]
    assert 5 <= len(sent) < 5 + 8, len(sent)
    assert all(_broken_answer(r) and r.skipped is None for r in sent)
    assert [r.skipped for r in results if r.exchange is None] == [UNSENT] * (64 - len(sent))
    assert client.control_requests == 1  # the set-up: no read-back once the circuit opened
    assert client.requests_sent - client.control_requests == len(sent) == len(dead.requests)


def _post_reset(conn: object, server: Server) -> None:
    """Resets every POST, answers every GET with the success envelope."""
    assert isinstance(conn, socket.socket)
    while (request := read_request(conn)) is not None:
        server.requests.append(request)
        if request.method == "POST":
            _reset(conn, server)
            return
        conn.sendall(response("200 OK", SUCCESS, {"Content-Type": "text/xml"}))


def test_a_class_tripped_in_a_batch_still_judges_the_cases_already_sent() -> None:
    """POSTs reset, GETs answered: the POST class trips while the batch is judged; the POST
    cases sent before that are failed with their evidence, never skipped as unsent; the next
    batch sends no POST."""
    cases = _together(40)
    with started(ReferenceServer()) as server, serve(_post_reset) as half, \
            target_on(server, api=half.url + API_PATH) as target:
        batches = Batches(target, Numbering(4), cases, 8)
        batches.window = 4  # a batch of 32 cases
        first = [batches.result(c) for c in cases[:32]]
        assert "POST" in target.breakers.tripped
        later = [batches.result(c) for c in cases[32:]]
    posts = [r for r in first if r.request.method == "POST"]
    assert len(posts) > 3 and all(_broken_answer(r) and r.skipped is None for r in posts)
    assert all(r.exchange is None and r.skipped for r in later if r.request.method == "POST")


class _ControlWithoutFlags(BaseHTTPRequestHandler):
    """Sets calls up (204) and fails every read of them (500)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(204 if self.path.endswith("/calls") else 500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST

    def log_message(self, *args: object) -> None:
        pass


def test_a_broken_answer_is_evidence_when_the_calls_cannot_be_read_back() -> None:
    """Not tested for want of the flags, but the reset fails the method's clause all the
    same: nothing absorbed in silence (one case alone and in a batch alike)."""
    control = ThreadingHTTPServer(("127.0.0.1", 0), _ControlWithoutFlags)
    threading.Thread(target=control.serve_forever, kwargs=QUICK_STOP, daemon=True).start()
    cases = [c for c in _together(64) if c.instantiate(Numbering())[0].calls][:9]
    try:
        with started(ReferenceServer()) as server, reset() as dead, target_on(
                server, api=dead.url + API_PATH,
                control=f"http://127.0.0.1:{control.server_port}") as target:
            alone = run_case(target, cases[0], Numbering(5))
            batches = Batches(target, Numbering(6), cases[1:], 8)
            batches.window = 8
            together = [batches.result(c) for c in cases[1:]]
    finally:
        control.shutdown()
        control.server_close()
    for result in [alone, *together]:
        assert result.skipped and result.skipped.startswith("control protocol"), result.skipped
        assert _broken_answer(result), result.checks


@pytest.mark.parametrize(("took", "failed", "answered", "loaded", "window"), [
    (0.0, 0, 3, False, 5),  # answered as fast as ever: one more per request answered
    (BATCH_SECONDS / 2, 0, 3, False, 5),  # however long the batch (its size, the client's CPU)
    (0.0, 0, 0, False, 2),  # nothing sent: nothing learnt
    (0.0, 0, 50, False, 8),  # never past --concurrency
    (0.0, 1, 50, False, 1),  # a failed request halves
    (BATCH_SECONDS + 1, 0, 50, False, 1),  # so does a slow batch
    (0.0, 0, 50, True, 2),  # answered slower than at its fastest: kept
])
def test_slow_start(took: float, failed: int, answered: int, loaded: bool, window: int) -> None:
    assert next_window(2, 8, took, failed, answered, loaded) == window


def test_the_first_case_after_the_preflight_runs_alone() -> None:
    cases = _together(20)
    with started(ReferenceServer()) as server, target_on(server) as target:
        batches = Batches(target, Numbering(8), cases, 8)
        assert (batches.window, batches.size) == (1, 1)
        batches.result(cases[0])
        assert not batches.holds(cases[1])  # nothing else was run with it
