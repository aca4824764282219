"""Transport settings through the CLI, as a user sets them: timeouts, TLS, retries, rate.

The client's own tests (tests/test_client.py) prove the mechanisms; these prove the options reach
them and show in results.json: each timeout ends its run with its own message, TLS is verified by
default and --ca-bundle / --insecure open it, transport retries are counted and assertions are
never retried, and --rate and Retry-After space the requests the target receives.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

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

KEY = "kc-canary-transport-KEY/+ &"
TOKEN = "kc-canary-transport-TOKEN"
SECRETS = (KEY, TOKEN)
ARGS = ["--api-key", KEY, "--token", TOKEN, "--quick"]
Answer = Callable[[int], bytes | None]  # request number (1 = preflight) -> answer, None: reset


def ok(_number: int) -> bytes | None:
    return response("200 OK", SUCCESS, {"Content-Type": "text/xml; charset=UTF-8"})


def run(url: str, tmp_path: Path, *extra: str, profile: str | None = None) -> CliRun:
    args = ["--target", url + API_PATH, *ARGS, *extra]
    if profile is not None:
        path = tmp_path / "profile.toml"
        path.write_text(profile, encoding="utf-8")
        args += ["--profile", str(path)]
    result = run_cli(args, tmp_path / "reports")
    assert result.leaks(SECRETS, ()) == []
    return result


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


# name -> (server, options, profile, abort message)
TIMEOUTS: dict[str, tuple[Callable[[], contextlib.AbstractContextManager[str]], list[str],
                          str, str]] = {
    "connect": (full_backlog, [], "[transport]\nconnect_timeout = 1.0\n",
                "connect: no connection within 1 s"),
    "read": (silent, [], "[transport]\nread_timeout = 1.0\ntotal_timeout = 30.0\n",
             "timeout: no data for 1 s"),
    "total": (trickling, ["--timeout", "1.5"], "", "timeout: total deadline of 1.5 s exceeded"),
}


@pytest.mark.parametrize("name", sorted(TIMEOUTS))
def test_each_timeout_ends_the_run_with_its_message(tmp_path: Path, name: str) -> None:
    server, options, profile, message = TIMEOUTS[name]
    with server() as url:
        result = run(url, tmp_path, *options, profile=profile or None)
    assert result.exit_code == 3, result.describe()
    assert message in (result.summary["aborted"] or ""), result.summary["aborted"]


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


def test_tls_is_verified_by_default(tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    with tls_server(certificate) as server:
        result = run(server.url.replace("http:", "https:"), tmp_path)
    assert result.exit_code == 3, result.describe()
    assert "tls:" in (result.summary["aborted"] or ""), result.summary["aborted"]
    assert not server.requests  # no request was sent over the unverified connection


@pytest.mark.parametrize("how", ["ca-bundle", "insecure"])
def test_ca_bundle_or_insecure_opens_the_connection(tmp_path: Path, how: str,
                                                    certificate: tuple[Path, Path]) -> None:
    option = ["--ca-bundle", str(certificate[0])] if how == "ca-bundle" else ["--insecure"]
    with tls_server(certificate) as server:
        result = run(server.url.replace("http:", "https:"), tmp_path, *option)
    # Answering success to everything is not conformant, but it was judged over TLS.
    assert result.exit_code == 1, result.describe()
    assert result.summary["aborted"] is None and result.summary["transport_failures"] == 0
    assert len(server.requests) == result.target["requests_sent"]


# --- retries ------------------------------------------------------------------------------------

def test_transport_failures_are_retried_and_reported(tmp_path: Path) -> None:
    """A reset before any answer is retried once; results.json counts the retry."""
    with scripted(lambda n: None if n == 3 else ok(n)) as server:
        result = run(server.url, tmp_path)
    target = result.target
    assert target["retries"] == 1, target
    assert len(server.requests) == target["requests_sent"] + 1
    assert result.summary["transport_failures"] == 0


def test_failed_assertions_are_never_retried(tmp_path: Path) -> None:
    """A wrong answer is judged once: the target sees exactly the requests the run counts."""
    with scripted(ok) as server:
        result = run(server.url, tmp_path)
    assert result.exit_code == 1 and result.summary["failed_requirements"]
    assert result.target["retries"] == 0
    assert len(server.requests) == result.target["requests_sent"]


# --- pacing -------------------------------------------------------------------------------------

def test_rate_spaces_the_requests(tmp_path: Path) -> None:
    rate = 20.0
    with scripted(ok) as server:
        result = run(server.url, tmp_path, "--rate", str(rate))
    times = server.times
    assert result.exit_code == 1 and len(times) > 10
    assert times[-1] - times[0] >= 0.95 * (len(times) - 1) / rate


def test_retry_after_is_honoured(tmp_path: Path) -> None:
    """429 with Retry-After 2 on one request: the target hears nothing for those 2 s."""
    throttled = 3
    lock = threading.Lock()

    def answer(n: int) -> bytes | None:
        with lock:
            if n == throttled:
                return response("429 Too Many Requests", b"slow down",
                                {"Retry-After": "2", "Content-Type": "text/plain"})
        return ok(n)

    with scripted(answer) as server:
        result = run(server.url, tmp_path)
    times = server.times
    assert result.exit_code == 1 and result.summary["transport_failures"] == 0
    assert times[throttled] - times[throttled - 1] >= 1.9
    # The throttled request was resent once, and the run counted it as one request.
    assert len(server.requests) == result.target["requests_sent"] + 1
