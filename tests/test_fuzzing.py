"""The fuzzed requests: the bytes each shape sends, and the readings the oracle is given."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, given, settings

from conformance.domain.fuzzing import (
    CORPUS,
    LONG_VALUE,
    MALFORMED_ESCAPES,
    SPECIALS,
    Fuzz,
    FuzzPlan,
    Shape,
    Verbatim,
    Wire,
    build,
    fuzz_plans,
    fuzz_text,
    malformed_escapes,
)
from conformance.domain.model import Credential, KeepCallRequest
from conformance.domain.scenarios import Numbering

KEY, TOKEN = "k3y", "t0k"
CREDENTIALS = [("apiKey", KEY), ("token", TOKEN)]
BASE = CORPUS[0].example


def wire(shape: Shape, *fuzz: Fuzz, post_in_query: bool = False) -> Wire:
    _, request = BASE.instantiate(Numbering(1))
    return build(FuzzPlan(BASE, fuzz, shape), request, CREDENTIALS, post_in_query)


def test_a_plain_get_is_exact_and_read_as_sent() -> None:
    sent = wire("query", Fuzz("type", "a&b=c#d%"))
    assert sent.method == "GET" and sent.body == b"" and sent.exact
    assert b"type=a%26b%3Dc%23d%25" in sent.query
    (view,) = sent.views
    assert view.get("type") == "a&b=c#d%"
    assert (view.api_key, view.token) == (Credential.VALID, Credential.VALID)


def test_bytes_that_are_not_utf8_go_out_as_they_are_and_make_the_request_inexact() -> None:
    sent = wire("post", Fuzz("callID", b"\xfc\xff"))
    assert b"callID=%FC%FF" in sent.body and not sent.exact
    assert sent.views[0].get("callID") == "\ufffd\ufffd"


def test_a_parameter_a_server_cannot_decode_may_be_read_as_absent() -> None:
    """N13: Tomcat drops a parameter whose bytes are not UTF-8 and reads the rest: one more
    view, without it (the one with it, decoded with replacement, stays)."""
    sent = wire("query", Fuzz("callID", b"\xfc\xff"))
    assert [v.get("callID") for v in sent.views] == ["\ufffd\ufffd", None]
    assert all(v.get("action") == "KeepCall" for v in sent.views)


@pytest.mark.parametrize("shape", ["query", "post", "split", "latin1"])
def test_a_malformed_escape_goes_out_raw(shape: Shape) -> None:
    """P11: ``%zz`` and a lone ``%`` reach the server unescaped; read as typed or dropped."""
    sent = wire(shape, Fuzz("type", Verbatim("ab%zz")), Fuzz("unknown", Verbatim("%"), "colour"))
    assert b"type=ab%zz" in sent.query + sent.body and b"colour=%" in sent.query + sent.body
    assert not sent.exact
    readings = {(v.get("type"), v.get("colour")) for v in sent.views}
    assert ("ab%zz", "%") in readings and (None, None) in readings


def test_a_malformed_escape_is_sent_in_every_run() -> None:
    """The corpus runs however few examples a run allows: both kinds go out raw."""
    raw = [f.value.text for p in CORPUS for f in p.fuzz if isinstance(f.value, Verbatim)]
    assert "%zz" in raw and "%" in raw


@settings(max_examples=100, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(malformed_escapes())
def test_a_malformed_escape_never_becomes_a_valid_one(value: Verbatim) -> None:
    """No hex digit follows the escape, so a lenient decoder keeps it as typed."""
    assert any(e in value.text for e in MALFORMED_ESCAPES)
    assert unquote(value.text, errors="strict") == value.text
    assert value.text.isascii() and not set(value.text) & set("&=#+ ")


def test_a_name_without_a_value_has_no_equals_sign() -> None:
    sent = wire("query", Fuzz("unknown", None, "bare"))
    assert sent.query.endswith(b"&bare") and not sent.exact
    assert sent.views[0].get("bare") == ""


def test_a_fuzzed_credential_is_an_invalid_one() -> None:
    view = wire("query", Fuzz("apiKey", "\x00")).views[0]
    assert view.api_key is Credential.INVALID and view.token is Credential.VALID


def test_split_parameters_are_read_three_ways() -> None:
    sent = wire("split")
    assert sent.query and sent.body and sent.method == "POST"
    assert len(sent.views) == 3  # all of them, the query's, the body's
    query_only = sent.views[1]
    assert query_only.api_key is Credential.VALID and query_only.get("callID") is None


def test_the_target_reading_posts_from_the_query_gets_its_plain_post_there() -> None:
    sent = wire("post", post_in_query=True)
    assert sent.body == b"" and b"callID=" in sent.query and sent.exact


def test_shapes_set_their_method_and_content_type() -> None:
    expected: dict[Shape, tuple[str, str | None]] = {
                "form-charset": ("POST", "application/x-www-form-urlencoded; charset=UTF-8"),
                "latin1": ("POST", "application/x-www-form-urlencoded; charset=ISO-8859-1"),
                "multipart": ("POST", "multipart/form-data; boundary=keepcall-fuzz-boundary"),
                "no-content-type": ("POST", ""), "wrong-content-type": ("POST", "text/plain"),
                "head": ("HEAD", None), "options": ("OPTIONS", None)}
    for shape, (method, content_type) in expected.items():
        sent = wire(shape)
        assert (sent.method, sent.headers.get("Content-Type")) == (method, content_type), shape
        assert not sent.exact


def test_latin1_bodies_carry_latin1_bytes() -> None:
    assert b"type=%FC" in wire("latin1", Fuzz("type", "\u00fc")).body


def test_a_long_url_carries_ten_thousand_characters() -> None:
    assert wire("long-url").query.endswith(b"pad=" + b"x" * LONG_VALUE)


@settings(max_examples=100, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(fuzz_text())
def test_fuzz_text_always_carries_a_special(text: str) -> None:
    assert any(s in text for s in SPECIALS)
    assert len(text) <= LONG_VALUE


@settings(max_examples=100, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(fuzz_plans())
def test_every_plan_builds_with_a_view_the_oracle_can_read(plan: FuzzPlan) -> None:
    _, request = plan.example.instantiate(Numbering(1))
    sent = build(plan, request, CREDENTIALS, False)
    assert sent.views and all(isinstance(v, KeepCallRequest) for v in sent.views)
    assert sent.exact == (plan.shape in ("query", "post") and all(
        isinstance(f.value, str) for f in plan.fuzz))
