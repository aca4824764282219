"""ReferenceServer's lifecycle and the serve entry point (python -m conformance.reference)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from conformance.reference import ReferenceServer

ROOT = Path(__file__).resolve().parents[1]


def test_attributes_and_random_credentials() -> None:
    first, second = ReferenceServer(), ReferenceServer()
    assert first.api_key != second.api_key and first.password != second.password
    assert str(uuid.UUID(first.api_key)) == first.api_key
    assert first.username == "conformance" and first.api_key != first.open_api_key


def test_starts_on_a_free_port_and_stops_promptly() -> None:
    server = ReferenceServer(api_key="k", open_api_key="o", username="u", password="p")
    with server:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/verba/api", server.api_url)
        assert server.control_url == server.api_url.replace("/verba/api", "/_conformance")
        with httpx.Client() as client:  # a keep-alive connection stays open during stop()
            response = client.get(server.api_url, params={"action": "KeepCall", "apiKey": "o"})
            assert 'code="2"' in response.text
            started = time.monotonic()
            server.stop()
            assert time.monotonic() - started < 2
    server.stop()  # idempotent


def test_a_taken_port_is_a_clear_error() -> None:
    with ReferenceServer() as running, pytest.raises(RuntimeError, match="could not listen"):
        ReferenceServer(port=running.port).start()


def _python(*args: str) -> list[str]:
    return [sys.executable, "-m", "conformance.reference", *args]


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), **extra}


def _as_from_a_shell() -> None:
    """Ctrl-C as a terminal delivers it: a test worker's process may run with SIGINT ignored
    or blocked, which a child inherits across exec (then Python installs no handler for it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


@pytest.mark.system
def test_serve_prints_urls_and_secrets_then_stops_on_ctrl_c() -> None:
    with subprocess.Popen(_python("--port", "0", "--switch", "error_status=404"),
                          stdout=subprocess.PIPE, text=True, preexec_fn=_as_from_a_shell,
                          env=_env(KEEPCALL_API_KEY="env-key", KEEPCALL_PASSWORD="pw")
                          ) as process:
        _check_banner_then_interrupt(process)


def _check_banner_then_interrupt(process: subprocess.Popen[str]) -> None:
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(7)]
        banner = "".join(lines)
        assert "env-key" in banner and "conformance:pw" in banner
        api_url = re.search(r"API URL\s+(\S+)", banner)
        assert api_url is not None
        response = httpx.get(api_url.group(1), params={"action": "KeepCall"})
        assert response.status_code == 404  # the switch was applied
    finally:
        process.send_signal(signal.SIGINT)
        try:  # the server's own stop takes at most 2 x 5 s; never hang the test run on it
            code = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
        assert code == 0


@pytest.mark.system
@pytest.mark.parametrize(("args", "code", "text"), [
    (["--list"], 0, "wrong-default-format (KC-RT-001)"),
    (["--switch", "nope=1"], 2, "unknown switch"),
    (["--fault", "nope"], 2, "unknown fault"),
])
def test_serve_options(args: list[str], code: int, text: str) -> None:
    done = subprocess.run(_python(*args), capture_output=True, text=True, env=_env(), timeout=20)
    assert done.returncode == code
    assert text in done.stdout + done.stderr
