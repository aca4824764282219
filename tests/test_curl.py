"""Curl lines: secrets as shell variables, and a replay by real curl sends the same request."""

from __future__ import annotations

import os
import shutil
import subprocess
from urllib.parse import parse_qsl, quote_plus, unquote_to_bytes

import pytest
from hostile import Request, recorder

from conformance.domain.fuzzing import CORPUS, SHAPES, Fuzz, FuzzPlan, Shape, build
from conformance.domain.scenarios import Numbering
from conformance.wire.curl import RequestParts, join_query, render
from conformance.wire.redact import Redactor
from conformance.wire.transport import Client, TransportSettings

KEY = "74c8eea0-50c6-40b2-9f3e-252ed501c3c8"
TOKEN = "tok/en+1 2&x"
USER, PASSWORD = "admin", "pa$$ w\"rd`"
SECRETS = (KEY, TOKEN, PASSWORD)
ENV = {"KEEPCALL_API_KEY": KEY, "KEEPCALL_TOKEN": TOKEN, "KEEPCALL_USERNAME": USER,
       "KEEPCALL_PASSWORD": PASSWORD}
FAST = TransportSettings(connect_timeout=1.0, read_timeout=5.0, total_timeout=2.0)
PATH = "/verba/api"
URL = "http://127.0.0.1:8080" + PATH


def make_redactor() -> tuple[Redactor, str]:
    redactor = Redactor({KEY: "$KEEPCALL_API_KEY", TOKEN: "$KEEPCALL_TOKEN"})
    return redactor, redactor.add_basic(USER, PASSWORD)


def params() -> tuple[tuple[str, str], ...]:
    return (("action", "KeepCall"), ("apiKey", KEY), ("token", TOKEN), ("callID", "c 1&2"))


# --- rendering (pure) -------------------------------------------------------------------------

def test_a_get_query_goes_in_as_url_encoded_data_with_g() -> None:
    line = render(RequestParts("GET", URL, query=params()), make_redactor()[0])
    assert line == (f'curl -sS -G "{URL}" --data-urlencode "action=KeepCall" '
                    '--data-urlencode "apiKey=$KEEPCALL_API_KEY" '
                    '--data-urlencode "token=$KEEPCALL_TOKEN" --data-urlencode "callID=c 1&2"')


def test_a_form_body_posts_without_g() -> None:
    line = render(RequestParts("POST", URL, form=(("apiKey", KEY),)), make_redactor()[0])
    assert line == f'curl -sS -X "POST" "{URL}" --data-urlencode "apiKey=$KEEPCALL_API_KEY"'


def test_a_query_beside_a_raw_body_stays_in_the_url() -> None:
    """curl -G would move the raw body into the query too."""
    line = render(RequestParts("POST", URL, query=(("a", "1"),), raw_body=b"b=2"), Redactor())
    assert line == f'curl -sS -X "POST" "{URL}?a=1" --data-binary "b=2"'


def test_basic_credentials_become_u_with_placeholders() -> None:
    redactor, basic = make_redactor()
    line = render(RequestParts("GET", URL, headers={"Authorization": basic}), redactor)
    assert line == f'curl -sS "{URL}" -u "$KEEPCALL_USERNAME:$KEEPCALL_PASSWORD"'


def test_an_unknown_credential_is_masked() -> None:
    line = render(RequestParts("GET", URL, headers={"Authorization": "Bearer xyz"}), Redactor())
    assert line.endswith('-H "Authorization: Bearer [redacted]"')


@pytest.mark.parametrize(("verify", "option"), [(True, ""), (False, " -k"),
                                                 ("/ca.pem", ' --cacert "/ca.pem"')])
def test_tls_options_follow_the_settings(verify: bool | str, option: str) -> None:
    assert render(RequestParts("GET", URL), Redactor(), verify) == f'curl -sS{option} "{URL}"'


@pytest.mark.parametrize(("raw", "word"), [
    (b'a"$`\\', '"a\\"\\$\\`\\\\"'),
    (b"x\ny", "\"x\"$'\\x0a'\"y\""),
    (b"\xff", "\"\"$'\\xff'\"\""),
])
def test_raw_bytes_are_quoted_literally(raw: bytes, word: str) -> None:
    line = render(RequestParts("POST", URL, raw_body=raw), Redactor())
    assert line.endswith(f"--data-binary {word}")


def test_a_placeholder_before_a_name_character_is_braced() -> None:
    line = render(RequestParts("POST", URL, raw_body=f"k={KEY}x".encode()), make_redactor()[0])
    assert line.endswith('--data-binary "k=${KEEPCALL_API_KEY}x"')


def test_a_name_needing_encoding_goes_in_pre_encoded() -> None:
    line = render(RequestParts("POST", URL, form=(("a b", "c&d"),)), Redactor())
    assert line.endswith('--data "a+b=c%26d"')


@pytest.mark.parametrize(("url", "encoded", "raw", "joined"), [
    ("http://h/p", "a=1", None, "http://h/p?a=1"),
    ("http://h/p?v=1", "a=1", b"x", "http://h/p?v=1&a=1&x"),
    ("http://h/p?", "a=1", None, "http://h/p?a=1"),
    ("http://h/p#f", "", b"x=%zz", "http://h/p?x=%zz#f"),
    ("http://h/p", "", None, "http://h/p"),
])
def test_join_query(url: str, encoded: str, raw: bytes | None, joined: str) -> None:
    assert join_query(url, encoded, raw) == joined


# --- replayed by real curl --------------------------------------------------------------------

def replay(curl: str) -> None:
    subprocess.run(["bash", "-c", curl], env={**os.environ, **ENV}, check=False,
                   capture_output=True, timeout=10)


def comparable(request: Request) -> tuple[object, ...]:
    """What a replay must reproduce: method, path, decoded query and form, credentials."""
    path, _, query = request.target.partition("?")
    form: object = request.body
    if "form" in request.headers.get("content-type", ""):
        form = parse_qsl(request.body.decode(), keep_blank_values=True)
    return (request.method, path, parse_qsl(query, keep_blank_values=True), form,
            request.headers.get("authorization"))


CURL_CASES = [
    ("GET", False, False), ("POST", True, False), ("POST", False, False), ("GET", False, True),
    ("POST", True, True),
]


@pytest.mark.system
@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
@pytest.mark.parametrize(("method", "in_body", "basic"), CURL_CASES)
def test_curl_line_reproduces_the_request_without_secrets(
    method: str, in_body: bool, basic: bool
) -> None:
    redactor, basic_header = make_redactor()
    headers = {"Authorization": basic_header} if basic else None
    with Client(FAST, redactor) as c, recorder() as server:
        exchange = c.send(method, server.url + PATH + "?v=1", params(), in_body=in_body,
                          headers=headers)
        replay(exchange.curl)
    assert "\n" not in exchange.curl
    assert not any(secret in exchange.curl for secret in SECRETS)
    if basic:
        assert '-u "$KEEPCALL_USERNAME:$KEEPCALL_PASSWORD"' in exchange.curl
    sent, replayed = server.requests
    assert comparable(replayed) == comparable(sent)


@pytest.mark.system
@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_curl_line_for_json_and_raw_bodies() -> None:
    redactor, _ = make_redactor()
    with Client(FAST, redactor) as c, recorder() as server:
        exchange, _ = c.send_json("POST", server.url + "/calls", {"id": "a\"$b`\n", "k": KEY})
        replay(exchange.curl)
        raw = c.send("POST", server.url + PATH, [("apiKey", KEY)], raw_body=b"x=1\n\x7f")
        replay(raw.curl)
    assert KEY not in exchange.curl and "\n" not in exchange.curl + raw.curl
    json_sent, json_replayed, raw_sent, raw_replayed = server.requests
    assert json_replayed.body == json_sent.body
    assert comparable(raw_replayed) == comparable(raw_sent)


FUZZ = (Fuzz("type", "\x00<\u202e\U0001f600 %+&=#"), Fuzz("callID", b"\xfc\xff"),
        Fuzz("unknown", None, "bare"))


@pytest.mark.system
@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
@pytest.mark.parametrize("shape", [shape for shape, _ in SHAPES])
def test_curl_line_sends_the_bytes_of_each_fuzzed_shape(shape: Shape) -> None:
    """A shrunk fuzzed request is reproduced byte for byte: method, query, body, type."""
    example = CORPUS[0].example
    _, request = example.instantiate(Numbering(1))
    sent_wire = build(FuzzPlan(example, FUZZ, shape), request,
                      [("apiKey", KEY), ("token", TOKEN)], False)
    redactor, _ = make_redactor()
    with Client(FAST, redactor) as c, recorder() as server:
        exchange = c.send(sent_wire.method, server.url + PATH, (), headers=sent_wire.headers,
                          raw_query=sent_wire.query or None, raw_body=sent_wire.body or None)
        replay(exchange.curl)
    assert not any(secret in exchange.curl for secret in SECRETS)
    sent, replayed = server.requests

    def exact(r: Request) -> tuple[object, ...]:
        """Byte for byte, but for secrets, which the line percent-encodes byte by byte."""
        return (r.method, unquote_to_bytes(r.target), unquote_to_bytes(r.body),
                r.headers.get("content-type"))
    assert exact(replayed) == exact(sent)
    assert b"\xfc\xff" in unquote_to_bytes(sent.body or sent.target.encode())


def test_a_secret_that_stood_encoded_in_raw_bytes_is_encoded_by_the_shell() -> None:
    encoded = quote_plus(TOKEN).replace("+", "%20").encode()
    line = render(RequestParts("GET", URL, raw_query=b"token=" + encoded), make_redactor()[0])
    assert TOKEN not in line and "token=$(printf %s \"$KEEPCALL_TOKEN\" | od" in line


def test_a_body_with_nul_comes_from_printf() -> None:
    line = render(RequestParts("POST", URL, raw_body=b"a\x00b\\c"), Redactor())
    assert line.startswith('printf %b "a\\\\0000b\\\\\\\\c" | curl ')
    assert '--data-binary "@-"' in line
