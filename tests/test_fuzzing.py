"""The fuzzed requests: the bytes each shape sends, and the readings the oracle is given."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from conformance.fuzzing import (
    CORPUS,
    LONG_VALUE,
    SPECIALS,
    Fuzz,
    FuzzPlan,
    Shape,
    Wire,
    build,
    fuzz_plans,
    fuzz_text,
)
from conformance.model import Credential, KeepCallRequest
from conformance.scenarios import Numbering

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
