"""The transport against real loopback servers: hostile ones must yield an Exchange, never a crash.

No wall-clock upper bounds are asserted. The total deadline is proven by outcome instead: a server
that needs many minutes to finish its answer ends in the deadline error with most bytes unread.
"""

from __future__ import annotations

import gzip
import os
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from hostile import (
    HOSTILE,
    SERVERS,
    SUCCESS,
    _after_request,
    _answer_each,
    bomb,
    coded_answer,
    recorder,
    redirect,
    refusing,
    response,
    serve,
    trickle,
    xxe_network,
)
from killmatrix import run_cli

from conformance.reference.server import ReferenceServer
from conformance.wire import attempts
from conformance.wire.inflate import CappedBody
from conformance.wire.pacing import Pacer
from conformance.wire.redact import Redactor
from conformance.wire.seam import in_process
from conformance.wire.sockets import keep_sockets
from conformance.wire.transport import Client, Exchange, TransportSettings
from conformance.wire.validators import validate_xml

KEY = "74c8eea0-50c6-40b2-9f3e-252ed501c3c8"
TOKEN = "tok/en+1 2&x"
USER, PASSWORD = "admin", "pa$$ w\"rd`"
SECRETS = (KEY, TOKEN, PASSWORD)
CAP = 64 * 1024
# verify=False: plain HTTP on loopback, no CA bundle to load (~20 ms of CPU a client).
FAST = TransportSettings(connect_timeout=1.0, read_timeout=5.0, total_timeout=1.0,
                         max_response_bytes=CAP, verify=False)
# Where the total deadline is what ends a request, a short one: that it ends the request is the
# subject, not how long it is (each such test waits it out).
SHORT = replace(FAST, total_timeout=0.3)
PATH = "/verba/api"
# What a bomb may cost the client: a few times the cap, for pieces and buffers in flight.
# Decoding a single network read in one call, as httpx does, costs about a thousand times it.
BOMB_MEMORY = 4 * 1024 * 1024


def make_redactor() -> tuple[Redactor, str]:
    redactor = Redactor({KEY: "$KEEPCALL_API_KEY", TOKEN: "$KEEPCALL_TOKEN"})
    return redactor, redactor.add_basic(USER, PASSWORD)


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    """Its pacer waits no Retry-After for real (what it would wait: test_retry_after_*)."""
    with paced_client([]) as c:
        yield c


@pytest.fixture(scope="module")
def short_client() -> Iterator[Client]:
    """The same with the SHORT total deadline, for the servers that only it can stop."""
    with paced_client([], SHORT) as c:
        yield c


def params() -> list[tuple[str, str]]:
    return [("action", "KeepCall"), ("apiKey", KEY), ("token", TOKEN), ("callID", "c 1&2")]


def assert_no_secret(exchange: Exchange) -> None:
    shown = " ".join([exchange.url, str(exchange.request_headers), exchange.request_body or "",
                      str(exchange.headers), exchange.error or "", exchange.curl,
                      " ".join(exchange.notes), exchange.body_excerpt()])
    for secret in SECRETS:
        assert secret not in shown


# --- every hostile behaviour ends in an Exchange within its bounds ----------------------------

# name -> (status, error kind or None, truncated)
EXPECTED: dict[str, tuple[int | None, str | None, bool]] = {
    "billion-laughs": (200, None, False),
    "quadratic-blowup": (200, None, True),
    "xxe-file": (200, None, False),
    "xxe-network": (200, None, False),
    "huge-body": (200, None, True),
    "endless-chunked": (200, None, True),
    "trickle-all": (None, "timeout: total deadline", False),
    "trickle-body": (200, "timeout: total deadline", False),
    "reset": (None, "reset:", False),
    "close-without-answer": (None, "closed:", False),
    "not-http": (None, "protocol:", False),
    "html-500": (500, None, False),
    "latin1-declared-utf8-body": (200, None, False),
    "utf8-declared-latin1-body": (200, None, False),
    "redirect": (302, None, False),
    "doctype": (200, None, False),
    "invalid-utf8": (200, None, False),
    "retry-after": (200, None, False),
    "gzip-bomb": (200, "too-large:", True),
    "post-silent": (200, None, False),  # answers GET; a POST would wait out the timeout
    "deflate-bomb": (200, "too-large:", True),
    "stall-after-headers": (200, "timeout:", False),
    "reset-every-3rd": (200, None, False),  # the first connection of three is answered
    "echo": (200, None, False),
}


TIMED_OUT = frozenset(name for name, (_, error, _) in EXPECTED.items()
                      if (error or "").startswith("timeout:"))


def _settings(name: str) -> TransportSettings:
    """SHORT for a server the deadline alone stops; FAST, a roomy deadline, for the rest."""
    return SHORT if name in TIMED_OUT else FAST


def test_every_hostile_behaviour_is_covered() -> None:
    assert set(EXPECTED) == set(HOSTILE)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_server_yields_an_exchange(client: Client, short_client: Client,
                                           name: str) -> None:
    status, error, truncated = EXPECTED[name]
    with HOSTILE[name]() as url:
        exchange = (short_client if name in TIMED_OUT else client).send("GET", url + PATH,
                                                                         params())
    assert exchange.status == status
    assert (exchange.error or "").startswith(error or ""), exchange.error
    assert (exchange.error is None) == (error is None)
    assert exchange.truncated is truncated
    assert len(exchange.body) <= CAP
    assert exchange.ok is (error is None)
    assert_no_secret(exchange)


# --- the total deadline -----------------------------------------------------------------------

@pytest.mark.parametrize("headers_too", [True, False], ids=["headers", "body"])
def test_total_deadline_holds_against_one_byte_per_second(headers_too: bool) -> None:
    redactor, _ = make_redactor()
    with Client(SHORT, redactor) as c, trickle(headers_too) as server:
        exchange = c.send("GET", server.url + PATH, [])
    # The answer needs ~1,000 s at one byte per second and no single read waits 5 s:
    # only the 0.3 s total deadline can have ended it.
    assert exchange.error == "timeout: total deadline of 0.3 s exceeded"
    assert len(exchange.body) < 10
    assert exchange.retries == 0


def test_a_timed_out_request_is_over_when_send_returns() -> None:
    """The deadline is held in the loop that reads: when ``send`` returns, the connection of
    the cut request is closed, so nothing still reads into what the exchange records.

    Held from the calling thread instead, ``send`` returned while the loop was still reading
    the dribbled body (19 times in 20); three sends make that all but certain to show."""
    settings = TransportSettings(connect_timeout=1.0, read_timeout=5.0, total_timeout=0.3)
    with Client(settings, Redactor()) as c:
        for _ in range(3):
            with trickle(headers_too=False, interval=0.01) as server:
                exchange = c.send("GET", server.url + PATH, [])
                gone = server.client_gone()
            assert exchange.error == "timeout: total deadline of 0.3 s exceeded"
            assert exchange.status == 200 and exchange.body  # it was cut while reading
            assert gone


# --- bodies: capped, decoded within the cap ---------------------------------------------------

@pytest.mark.parametrize("name", ["huge-body", "endless-chunked"])
def test_body_is_capped_and_flagged(client: Client, name: str) -> None:
    with HOSTILE[name]() as url:
        exchange = client.send("GET", url + PATH, [])
    assert exchange.truncated and len(exchange.body) == CAP and exchange.ok


def test_connection_is_reusable_after_a_truncated_body(client: Client) -> None:
    with HOSTILE["huge-body"]() as url:
        client.send("GET", url + PATH, [])
    with recorder() as server:
        assert client.send("GET", server.url + PATH, []).status == 200


@pytest.mark.parametrize("codings", [("gzip",), ("deflate",), ("gzip", "gzip"),
                                     ("deflate", "gzip")], ids=", ".join)
def test_a_bomb_stops_at_the_cap_with_bounded_memory(client: Client,
                                                     codings: tuple[str, ...]) -> None:
    """A GiB of zeros (2 KB when coded twice) ends as "too-large" after the cap's worth."""
    with bomb(*codings) as server:  # built before tracing: its bytes are the server's
        client.send("GET", server.url + PATH, [])  # warm: first use imports and sets up
        tracemalloc.start()
        try:
            exchange = client.send("GET", server.url + PATH, [])
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert exchange.error is not None and exchange.error.startswith("too-large:"), exchange.error
    assert f"{', '.join(codings)} body inflates past the cap of {CAP} bytes" in exchange.error
    assert exchange.status == 200 and not exchange.ok
    assert exchange.truncated and exchange.body == bytes(CAP)
    assert peak < BOMB_MEMORY, f"{peak / 2**20:.0f} MiB"


@pytest.mark.parametrize(("codings", "coded"), [
    (("gzip",), gzip.compress(SUCCESS)),
    (("deflate",), zlib.compress(SUCCESS)),
    (("deflate",), zlib.compress(SUCCESS, wbits=-zlib.MAX_WBITS)),  # raw, as some servers send
    (("gzip", "identity", "gzip"), gzip.compress(gzip.compress(SUCCESS))),
    (("br",), b"\x8b\x03\x80raw"),  # not undone here: kept as received
], ids=["gzip", "deflate", "raw-deflate", "gzip-twice", "br"])
def test_a_coded_answer_within_the_cap_is_decoded(client: Client, codings: tuple[str, ...],
                                                 coded: bytes) -> None:
    with coded_answer(coded, *codings) as server:
        exchange = client.send("GET", server.url + PATH, [])
    assert exchange.ok and not exchange.truncated
    assert exchange.body == (coded if codings == ("br",) else SUCCESS)


def test_a_corrupt_coding_is_a_decode_error(client: Client) -> None:
    with coded_answer(b"\x1f\x8b\x08\x00not gzip at all", "gzip") as server:
        exchange = client.send("GET", server.url + PATH, [])
    assert exchange.status == 200 and (exchange.error or "").startswith("decode:")


# --- nothing is fetched, nothing is followed --------------------------------------------------

def test_xxe_in_a_response_fetches_nothing(client: Client) -> None:
    with xxe_network() as (hostile, witness):
        exchange = client.send("GET", hostile.url + PATH, params())
        verdict = validate_xml(exchange.body, exchange.headers.get("content-type"))
    assert verdict.error_message == "&xxe;"  # the reference, never what it points at
    assert "KC-XML-001" in {f.requirement for f in verdict.findings}
    assert not witness.contacted


def test_redirect_is_not_followed_and_credentials_stay_home() -> None:
    redactor, basic = make_redactor()
    with Client(FAST, redactor) as c, redirect() as (hostile, witness):
        exchange = c.send("GET", hostile.url + PATH, params(), headers={"Authorization": basic})
        time.sleep(0.2)  # give a (wrongly) followed request time to arrive
    assert exchange.status == 302
    assert exchange.headers["location"].startswith(witness.url)
    assert not witness.contacted
    assert hostile.requests[0].headers["authorization"] == basic  # it was sent, to the target
    assert exchange.request_headers["authorization"] == "Basic $KEEPCALL_BASIC"
    assert "$KEEPCALL_API_KEY" in exchange.headers["location"]
    assert_no_secret(exchange)


def test_cookies_are_not_kept(client: Client) -> None:
    """A target that sets a cookie on every answer never gets one back."""
    answer = response("200 OK", SUCCESS, {"Content-Type": "text/xml",
                                          "Set-Cookie": "session=abc; Path=/"})
    with serve(_answer_each(lambda _r, _s: answer)) as server:
        first = client.send("GET", server.url + PATH, [])
        client.send("GET", server.url + PATH, [])
    assert first.headers["set-cookie"].startswith("session=")
    assert len(server.requests) == 2
    assert all("cookie" not in r.headers for r in server.requests)


def test_a_connection_the_target_closed_while_idle_is_not_reused(client: Client) -> None:
    """The pool sees an idle connection's socket readable (the target closed it) before it
    sends on it (sockets.py keeps the socket for that check): a new one, no retry."""
    closed = threading.Event()

    def answer_and_close(conn: socket.socket, _server: object) -> None:
        conn.sendall(response("200 OK", SUCCESS, {"Content-Type": "text/xml"}))
        conn.shutdown(socket.SHUT_RDWR)
        closed.set()

    with serve(_after_request(answer_and_close)) as server:
        first = client.send("GET", server.url + PATH, [])
        assert closed.wait(10)
        second = client.send("GET", server.url + PATH, [])
    assert (first.status, second.status) == (200, 200)
    assert (second.retries, second.dropped) == (0, ())
    assert server.connections == 2


def test_the_sockets_are_kept_under_httpx_s_own_transport_only() -> None:
    """httpx's transport takes no backend: the one it made is reached (a newer httpx that
    moved it would only cost the CPU again, so it is checked here); the in-process seam to an
    app is left as it is."""
    tcp = httpx.AsyncClient()
    app = httpx.AsyncClient(transport=in_process(ReferenceServer().app))
    assert keep_sockets(tcp) and not keep_sockets(app)


# --- retries, counters, errors ----------------------------------------------------------------

DROP_MODULES = """
import sys
from hostile import SERVERS
from conformance.wire.redact import Redactor
from conformance.wire.transport import Client, TransportSettings

def reset_error() -> str:
    settings = TransportSettings(connect_timeout=1.0, read_timeout=5.0, total_timeout=5.0,
                                 retries=0)
    with Client(settings, Redactor()) as client, SERVERS["reset"]() as server:
        return client.send("GET", server.url + "/verba/api", []).error or ""

saved = dict(sys.modules)
reset_error()  # the first request imports what httpx loads lazily
sys.modules.clear()
sys.modules.update(saved)  # what pytester's inline runs do after each run
print(reset_error())
"""


@pytest.mark.system
def test_a_reset_keeps_its_name_after_a_host_drops_the_modules_a_request_imported() -> None:
    """Found under xdist: after an in-process pytest run, resets read "unexpected: ReadError"."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent),
                                                        os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", DROP_MODULES], capture_output=True, text=True,
                         env=env, timeout=60, check=True).stdout
    assert out.startswith("reset:"), out



@pytest.mark.parametrize(("name", "retries"), [
    ("reset", 1), ("close-without-answer", 1), ("html-500", 0), ("redirect", 0),
    ("not-http", 0), ("trickle-body", 0), ("huge-body", 0), ("gzip-bomb", 0),
])
def test_retries_only_on_transport_failures(name: str, retries: int) -> None:
    redactor, _ = make_redactor()
    with Client(_settings(name), redactor) as c, SERVERS[name]() as server:
        exchange = c.send("GET", server.url + PATH, [])
        assert exchange.retries == c.retries_total == retries
        assert server.connections == 1 + retries
        assert c.requests_sent == 1


def test_counters_and_circuit_breaker_input() -> None:
    redactor, _ = make_redactor()
    with Client(FAST, redactor) as c:
        with SERVERS["reset"]() as server:
            c.send("GET", server.url, [])
            c.send("GET", server.url, [])
        assert (c.transport_failures, c.consecutive_failures, c.retries_total) == (2, 2, 2)
        with SERVERS["html-500"]() as server:
            c.send("GET", server.url, [])
        assert (c.requests_sent, c.transport_failures, c.consecutive_failures) == (3, 2, 0)


@pytest.mark.system
def test_the_run_reports_the_clients_count_of_transport_failures(tmp_path: Path) -> None:
    """results.json counts transport failures where the circuit breaker reads them, in the
    client, so the two cannot disagree: the one request to an unreachable target failed."""
    with refusing() as url:
        run = run_cli(["--target", url + PATH, "--api-key", "kc-canary-count-KEY",
                       "--quick", "--timeout", "2"], tmp_path)
    assert run.exit_code == 3, run.describe()
    assert run.summary["transport_failures"] == run.target["requests_sent"] == 1


def test_refused_connection_is_an_error_not_an_exception(client: Client) -> None:
    with refusing() as url:
        exchange = client.send("GET", url + PATH, params())
    assert exchange.status is None and exchange.error is not None
    assert exchange.error.startswith("connect:") and exchange.retries == 1
    assert_no_secret(exchange)


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "not a url", "http://[::1"])
def test_unusable_url_is_an_error(client: Client, url: str) -> None:
    exchange = client.send("GET", url, [])
    assert exchange.error is not None and exchange.status is None


class _Broken(CappedBody):
    """The suite's own body reader with a bug in it."""

    def add(self, chunk: bytes) -> bool:
        raise TypeError("a bug of the suite, not of the target")


def _broken_hook(request: httpx.Request) -> None:
    raise TypeError("a bug of the suite, not of the target")


def test_a_bug_of_the_suite_while_reading_propagates(monkeypatch: pytest.MonkeyPatch) -> None:
    """Our own TypeError is never an "unexpected" transport error, a failure of the target."""
    monkeypatch.setattr(attempts, "CappedBody", _Broken)
    with Client(FAST, Redactor()) as c, recorder() as server, pytest.raises(TypeError):
        c.send("GET", server.url + PATH, [])


def test_a_bug_of_the_suite_while_sending_propagates() -> None:
    with Client(FAST, Redactor()) as c, recorder() as server:
        c._http.event_hooks["request"] = [_broken_hook]  # our code, run inside httpx's send
        with pytest.raises(TypeError):
            c.send("GET", server.url + PATH, [])


# --- what is sent -----------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "in_body", "query", "form"), [
    ("GET", False, True, False),
    ("POST", True, False, True),
    ("POST", False, True, False),
])
def test_parameter_placement(client: Client, method: str, in_body: bool, query: bool,
                             form: bool) -> None:
    with recorder() as server:
        exchange = client.send(method, server.url + PATH + "?v=1", params(), in_body=in_body)
    request = server.requests[0]
    target_query = parse_qsl(urlsplit(request.target).query, keep_blank_values=True)
    assert request.method == method
    assert target_query[0] == ("v", "1")
    assert (target_query[1:] == params()) is query
    assert (parse_qsl(request.body.decode()) == params()) is form
    assert (request.headers.get("content-type") == "application/x-www-form-urlencoded") is form
    assert request.headers["accept-encoding"] == "identity"
    assert (exchange.request_body is not None) is form
    assert_no_secret(exchange)


def test_raw_query_and_body_are_sent(client: Client) -> None:
    with recorder() as server:
        client.send("POST", server.url + PATH, [("a", "1")], in_body=True,
                    raw_query=b"x=%zz&&y", raw_body=b"b=%00\xff")
    request = server.requests[0]
    assert request.target.endswith("?x=%zz&&y")
    assert request.body == b"a=1&b=%00\xff"


def test_send_json_decodes_safely(client: Client) -> None:
    with recorder(b'{"ok": true}', "application/json") as server:
        exchange, data = client.send_json("POST", server.url + "/calls", {"calls": []})
    assert data == {"ok": True}
    assert server.requests[0].headers["content-type"] == "application/json"
    assert exchange.request_body == '{"calls": []}'
    for bad in (b"{", b"[" * 100_000, b"\xff"):
        with recorder(bad, "application/json") as server:
            exchange, data = client.send_json("GET", server.url + "/calls", None)
        assert exchange.ok and data is None


def test_body_excerpt_is_redacted(client: Client) -> None:
    with recorder(f"<p>your key {KEY} and token {TOKEN}</p>".encode()) as server:
        exchange = client.send("GET", server.url, [])
    assert KEY.encode() in exchange.body
    assert exchange.body_excerpt() == "<p>your key $KEEPCALL_API_KEY and token $KEEPCALL_TOKEN</p>"
    assert exchange.body_excerpt(10) == "<p>your ke..."


# --- pacing, as the transport uses it (the waits themselves: tests/test_pacing.py) ------------

def paced_client(sleeps: list[float], settings: TransportSettings = FAST) -> Client:
    """A client whose pacer records its waits instead of sleeping them."""
    redactor, _ = make_redactor()
    return Client(settings, redactor, Pacer(None, 30.0, sleep=sleeps.append))


def test_retry_after_is_honoured_resent_and_reported() -> None:
    sleeps: list[float] = []
    with paced_client(sleeps) as c, SERVERS["retry-after"]() as server:
        exchange = c.send("GET", server.url + PATH, [])
    assert exchange.status == 200 and exchange.retries == 0
    assert sleeps == [pytest.approx(1.0, abs=0.01)] and exchange.waited == sleeps[0]
    assert exchange.notes == ("429 with Retry-After '1': waiting 1 s",
                              "resent once after the Retry-After wait")
    assert len(server.requests) == 2 and c.requests_sent == 1


def test_retry_after_delays_the_next_request() -> None:
    sleeps: list[float] = []
    with paced_client(sleeps) as c:
        with SERVERS["retry-after"]() as server:  # 429 then, after the resend, 429 again
            server.state["seen"] = -1
            first = c.send("GET", server.url + PATH, [])
        with recorder() as other:
            second = c.send("GET", other.url + PATH, [])
    assert first.status == 429 and second.status == 200
    assert len(sleeps) == 2 and second.waited == sleeps[1] == pytest.approx(1.0, abs=0.01)
