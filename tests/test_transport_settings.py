"""Transport settings, as a user sets them: timeouts, TLS, retries, rate.

The client's own tests (tests/test_client.py) prove most mechanisms. Here every transport option
and profile value is resolved by ``settings.resolve`` and handed to a real ``Client``, as a run
does: each timeout ends a request with its own message, TLS is verified by default and
``ca_bundle`` / ``insecure`` open it. Two runs of the CLI then prove the path end to end: every
transport flag shows in results.json and a verified TLS target is judged; transport retries are
counted, Retry-After is honoured, and judged answers are never retried.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hostile import (
    API_PATH,
    SUCCESS,
    Request,
    Server,
    _reset,
    read_request,
    response,
    serve,
    trickle,
)
from killmatrix import CliRun, run_cli

from conformance.integration.settings import Options, resolve
from conformance.wire.redact import Redactor
from conformance.wire.transport import Client, Exchange, TransportSettings

KEY = "kc-canary-transport-KEY/+ &"
TOKEN = "kc-canary-transport-TOKEN"
SECRETS = (KEY, TOKEN)
ARGS = ["--api-key", KEY, "--token", TOKEN, "--quick"]
Answer = Callable[[int], bytes | None]  # request number (1 = preflight) -> answer, None: reset


def ok(_number: int) -> bytes | None:
    return response("200 OK", SUCCESS, {"Content-Type": "text/xml; charset=UTF-8"})


def run(url: str, tmp_path: Path, *extra: str) -> CliRun:
    """The CLI's quick run against ``url``; no secret may show in what it wrote or printed."""
    result = run_cli(["--target", url + API_PATH, *ARGS, *extra], tmp_path / "reports")
    assert result.leaks(SECRETS, ()) == []
    return result


def resolved(tmp_path: Path, options: dict[str, Any], profile: str = "") -> TransportSettings:
    """The transport settings a run would use, from options and a profile's text."""
    if profile:
        path = tmp_path / "profile.toml"
        path.write_text(profile, encoding="utf-8")
        options = {**options, "profile": str(path)}
    return resolve(Options(**options), {}).transport


def send_once(url: str, transport: TransportSettings) -> Exchange:
    """One request through a real client with these settings, as the run's preflight sends."""
    with Client(transport, Redactor()) as client:
        return client.send("GET", url + API_PATH, [("action", "KeepCall")])


@dataclass
class Scripted:
    """A running scripted server and the arrival time of each request it read."""

    server: Server
    times: list[float] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def requests(self) -> list[Request]:
        return self.server.requests


@contextlib.contextmanager
def scripted(answer: Answer, wrap: ssl.SSLContext | None = None) -> Iterator[Scripted]:
    """A keep-alive server answering request n with ``answer(n)`` (None: a reset)."""
    times: list[float] = []

    def handler(conn: socket.socket, server: Server) -> None:
        stream = wrap.wrap_socket(conn, server_side=True) if wrap else conn
        while (request := read_request(stream)) is not None:
            server.requests.append(request)
            times.append(time.monotonic())
            reply = answer(len(server.requests))
            if reply is None:
                _reset(stream, server)
                return
            stream.sendall(reply)

    with serve(handler) as server:
        yield Scripted(server, times)


# --- options and profile reach the settings ------------------------------------------------------

# name -> (options, profile, the TransportSettings fields they set)
REACHES: dict[str, tuple[dict[str, Any], str, dict[str, Any]]] = {
    "defaults": ({}, "", {"verify": True, "rate": None, "total_timeout": 30.0}),
    "options": ({"connect_timeout": 4.0, "read_timeout": 6.0, "total_timeout": 1.5,
                 "max_response_bytes": 65_536, "rate": 20.0, "insecure": True}, "",
                {"connect_timeout": 4.0, "read_timeout": 6.0, "total_timeout": 1.5,
                 "max_response_bytes": 65_536, "rate": 20.0, "verify": False}),
    "profile": ({}, "[transport]\nconnect_timeout = 1.0\nread_timeout = 2.0\n"
                    "total_timeout = 30.0\nrate = 3.0\ninsecure = true\n",
                {"connect_timeout": 1.0, "read_timeout": 2.0, "total_timeout": 30.0,
                 "rate": 3.0, "verify": False}),
    "options-over-profile": ({"total_timeout": 1.5}, "[transport]\ntotal_timeout = 9.0\n",
                             {"total_timeout": 1.5}),
}


@pytest.mark.parametrize("name", sorted(REACHES))
def test_options_and_profile_reach_the_transport(tmp_path: Path, name: str) -> None:
    options, profile, expected = REACHES[name]
    transport = resolved(tmp_path, options, profile)
    assert {k: getattr(transport, k) for k in expected} == expected


def test_a_ca_bundle_reaches_the_transport(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("x")
    assert resolved(tmp_path, {"ca_bundle": str(bundle)}).verify == str(bundle)


# --- timeouts -----------------------------------------------------------------------------------

@contextlib.contextmanager
def full_backlog() -> Iterator[str]:
    """A port whose accept queue is full: the kernel drops new SYNs, so connect times out."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        with socket.create_connection(listener.getsockname()):
            yield url


@contextlib.contextmanager
def silent() -> Iterator[str]:
    """Reads the request, then never answers."""
    def handler(conn: socket.socket, server: Server) -> None:
        read_request(conn)
        server.stop.wait(60)

    with serve(handler) as server:
        yield server.url


@contextlib.contextmanager
def trickling() -> Iterator[str]:
    with trickle() as server:
        yield server.url


# name -> (server, options, profile, the request's error); short values keep the lane fast.
TIMEOUTS: dict[str, tuple[Callable[[], contextlib.AbstractContextManager[str]],
                          dict[str, Any], str, str]] = {
    "connect": (full_backlog, {}, "[transport]\nconnect_timeout = 0.1\n",
                "connect: no connection within 0.1 s"),
    "read": (silent, {}, "[transport]\nread_timeout = 0.1\ntotal_timeout = 30.0\n",
             "timeout: no data for 0.1 s"),
    "total": (trickling, {"total_timeout": 0.3}, "", "timeout: total deadline of 0.3 s exceeded"),
}


@pytest.mark.parametrize("name", sorted(TIMEOUTS))
def test_each_timeout_ends_the_request_with_its_message(tmp_path: Path, name: str) -> None:
    """The message a run aborts with ("target unreachable: ..." when the preflight fails)."""
    server, options, profile, message = TIMEOUTS[name]
    with server() as url:
        exchange = send_once(url, resolved(tmp_path, options, profile))
    assert exchange.status is None and message in (exchange.error or ""), exchange.error


# --- TLS ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with the openssl CLI."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


@contextlib.contextmanager
def tls_server(certificate: tuple[Path, Path]) -> Iterator[Scripted]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    with scripted(ok, context) as server:
        yield server


def https(server: Scripted) -> str:
    return server.url.replace("http:", "https:")


@pytest.mark.system  # the certificate comes from the openssl command
def test_tls_is_verified_by_default(tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    with tls_server(certificate) as server:
        exchange = send_once(https(server), resolved(tmp_path, {}))
    assert (exchange.error or "").startswith("tls:"), exchange.error
    assert not server.requests  # nothing was sent over the unverified connection


@pytest.mark.system  # the certificate comes from the openssl command
@pytest.mark.parametrize("how", ["ca-bundle", "insecure"])
def test_ca_bundle_or_insecure_opens_the_connection(tmp_path: Path, how: str,
                                                    certificate: tuple[Path, Path]) -> None:
    options = {"ca_bundle": str(certificate[0])} if how == "ca-bundle" else {"insecure": True}
    with tls_server(certificate) as server:
        exchange = send_once(https(server), resolved(tmp_path, options))
    assert exchange.status == 200 and exchange.error is None, exchange.error
    assert len(server.requests) == 1


# --- end to end ---------------------------------------------------------------------------------

FLAGS = ["--connect-timeout", "4", "--read-timeout", "6", "--timeout", "9",
         "--max-response-bytes", "65536", "--rate", "1000"]
SHOWN = {"connect_timeout": 4.0, "read_timeout": 6.0, "total_timeout": 9.0,
         "max_response_bytes": 65_536, "rate": 1000.0, "tls_verify": True}


@pytest.mark.system
def test_flags_reach_a_verified_tls_run(tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    """Every transport flag shows in results.json; --ca-bundle opens the verified connection;
    answering success to everything is not conformant, but it was judged over TLS."""
    with tls_server(certificate) as server:
        result = run(https(server), tmp_path, "--ca-bundle", str(certificate[0]), *FLAGS)
    assert result.exit_code == 1, result.describe()
    assert result.summary["aborted"] is None and result.summary["transport_failures"] == 0
    assert len(server.requests) == result.target["requests_sent"]
    transport = result.target["transport"]
    assert {k: transport[k] for k in SHOWN} == SHOWN, transport


RESET, THROTTLED = 3, 5  # request numbers: a reset before any answer, a 429 with Retry-After


def resets_then_throttles(number: int) -> bytes | None:
    if number == RESET:
        return None
    if number == THROTTLED:
        return response("429 Too Many Requests", b"slow down",
                        {"Retry-After": "1", "Content-Type": "text/plain"})
    return ok(number)


@pytest.mark.system
def test_retries_and_retry_after_are_counted_and_answers_never_retried(tmp_path: Path) -> None:
    """The reset is retried once and counted; the 429 is resent after its Retry-After and
    counted as one request; every wrong answer is judged once (the target sees exactly the
    requests the run counts, plus those two); --insecure shows in results.json."""
    with scripted(resets_then_throttles) as server:
        result = run(server.url, tmp_path, "--insecure")
    times, target = server.times, result.target
    assert result.exit_code == 1 and result.summary["failed_requirements"], result.describe()
    assert result.summary["transport_failures"] == 0
    assert target["retries"] == 1, target
    assert len(server.requests) == target["requests_sent"] + 2
    # The 429's own request sent again after its Retry-After (other requests may have been in
    # flight beside it: they were sent before the 429 came back).
    throttled = server.requests[THROTTLED - 1]
    again = next(i for i in range(THROTTLED, len(server.requests))
                 if (server.requests[i].method, server.requests[i].target,
                     server.requests[i].body) == (throttled.method, throttled.target,
                                                  throttled.body))
    assert times[again] - times[THROTTLED - 1] >= 0.95
    assert target["transport"]["tls_verify"] is False
