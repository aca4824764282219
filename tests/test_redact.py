"""The redactor: every wire form of a secret disappears, short secrets only as whole values."""

from __future__ import annotations

import base64
import functools
import html
import sys
import threading
from collections.abc import Callable

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from conformance.wire.redact import LONG_TEXT, Redactor
from conformance.wire.secret_forms import encoded_forms

KEY = "74c8eea0-50c6-40b2-9f3e-252ed501c3c8"
TOKEN = "09835e02/6c10+11e0 bb22&ba324924019b"
PASSWORD = "p@ss w0rd/ü"


def redactor() -> Redactor:
    r = Redactor({KEY: "$KEEPCALL_API_KEY", PASSWORD: "$KEEPCALL_PASSWORD"})
    r.add(TOKEN, "$KEEPCALL_TOKEN")
    return r


# Sorted: encoded_forms orders equal lengths by set order, which differs between processes,
# and every pytest-xdist worker must collect the same tests in the same order.
@pytest.mark.parametrize("form", sorted(encoded_forms(TOKEN) + encoded_forms(PASSWORD)))
def test_every_encoded_form_is_replaced(form: str) -> None:
    out = redactor()(f"GET /verba/api?x={form}&y=1 HTTP/1.1")
    assert form not in out
    assert "$KEEPCALL_TOKEN" in out or "$KEEPCALL_PASSWORD" in out


@pytest.mark.parametrize(("text", "expected"), [
    (f"apiKey={KEY}&action=KeepCall", "apiKey=$KEEPCALL_API_KEY&action=KeepCall"),
    (f"key {KEY} twice {KEY}", "key $KEEPCALL_API_KEY twice $KEEPCALL_API_KEY"),
    ("token=09835e02%2F6c10%2B11e0+bb22%26ba324924019b", "token=$KEEPCALL_TOKEN"),
    ("token=09835e02%2f6c10%2b11e0+bb22%26ba324924019b", "token=$KEEPCALL_TOKEN"),
    ("pw=p%40ss%20w0rd%2F%C3%BC!", "pw=$KEEPCALL_PASSWORD!"),
    ("nothing secret here", "nothing secret here"),
    ("", ""),
])
def test_plain_percent_and_form_encoded(text: str, expected: str) -> None:
    assert redactor()(text) == expected


def test_basic_header_becomes_one_placeholder() -> None:
    r = Redactor()
    header = r.add_basic("admin", PASSWORD)
    assert header == "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    assert r(f"Authorization: {header}") == "Authorization: Basic $KEEPCALL_BASIC"
    assert r(PASSWORD) == "$KEEPCALL_PASSWORD"
    credential = r.basic_credential(header)
    assert credential is not None
    assert (credential.username, credential.password) == ("$KEEPCALL_USERNAME",
                                                          "$KEEPCALL_PASSWORD")
    assert r.basic_credential("Basic bm9ib2R5OnNlY3JldA==") is None


@pytest.mark.parametrize(("text", "expected"), [
    ("apiKey=ab&action=KeepCall", "apiKey=$K&action=KeepCall"),
    ("apiKey=ab", "apiKey=$K"),
    ("about a cab, abc=abd", "about a cab, abc=abd"),
    ("x=abc&y=ab#frag", "x=abc&y=$K#frag"),
])
def test_short_secret_only_as_whole_value(text: str, expected: str) -> None:
    assert Redactor({"ab": "$K"})(text) == expected


def test_empty_secret_is_ignored() -> None:
    r = Redactor({"": "$KEEPCALL_TOKEN"})
    r.add("", "$KEEPCALL_API_KEY")
    assert r("apiKey=&token=") == "apiKey=&token="


@pytest.mark.parametrize(("name", "value", "shown"), [
    ("Authorization", f"Bearer {TOKEN}", "Bearer $KEEPCALL_TOKEN"),
    ("Authorization", "Bearer someone-elses", "Bearer [redacted]"),
    ("Proxy-Authorization", "opaque", "[redacted]"),
    ("Cookie", "session=1", "[redacted]"),
    ("Location", f"/x?apiKey={KEY}", "/x?apiKey=$KEEPCALL_API_KEY"),
    ("Content-Type", "text/xml", "text/xml"),
])
def test_a_credential_header_is_masked_unless_a_secret_names_it(
        name: str, value: str, shown: str) -> None:
    assert redactor().header(name, value) == shown


def test_headers_are_recorded_with_lower_case_names() -> None:
    recorded = redactor().headers([("Authorization", "Basic xyz"), ("X-Key", KEY)])
    assert recorded == {"authorization": "Basic [redacted]", "x-key": "$KEEPCALL_API_KEY"}


def test_tokens_added_later_are_redacted() -> None:
    r = Redactor()
    assert r("token=abcdef") == "token=abcdef"
    r.add("abcdef", "$KEEPCALL_TOKEN")
    assert r("token=abcdef") == "token=$KEEPCALL_TOKEN"


def test_longer_secret_wins_over_its_prefix() -> None:
    r = Redactor({"abcd": "$A", "abcdefgh": "$B"})
    assert r("x=abcdefgh y=abcd") == "x=$B y=$A"


# --- what a target may echo: every form, any mixture ------------------------------------------
def _refs(text: str, hexadecimal: bool = False) -> str:
    return "".join(f"&#x{ord(c):x};" if hexadecimal else f"&#{ord(c)};" for c in text)


ECHOED = {
    "XML numeric references": _refs(KEY),
    "XML hex references": _refs(KEY, hexadecimal=True),
    "references escaped once more": _refs(KEY).replace("&", "&amp;"),
    "half references": KEY[:10] + _refs(KEY[10:]),
    "HTML-escaped": "09835e02/6c10+11e0 bb22&amp;ba324924019b",
    "escaped twice": "09835e02/6c10+11e0 bb22&amp;amp;ba324924019b",
    "JSON \\u escapes": "".join(f"\\u{ord(c):04x}" for c in KEY),
    "split across lines": KEY[:18] + "\n    " + KEY[18:],
    "split across JSON lines": KEY[:7] + "\\n" + KEY[7:],
    "base64": base64.b64encode(KEY.encode()).decode(),
    "base64 inside base64": base64.b64encode(b"x=" + KEY.encode() + b";").decode(),
    "base64 at the last alignment": base64.b64encode(b"ab" + KEY.encode()).decode(),
    "base64 URL-safe": base64.urlsafe_b64encode(b"?" + TOKEN.encode()).decode(),
    "base64 wrapped": base64.encodebytes(b"0123" + KEY.encode() * 3).decode(),
    "percent, in part": KEY[:5] + "%2D".join(KEY[5:].split("-")),
}


@pytest.mark.parametrize("echoed", ECHOED.values(), ids=ECHOED.keys())
def test_every_echoed_form_is_replaced(echoed: str) -> None:
    out = redactor()(f"<p>you sent {echoed} to us</p>")
    assert "$KEEPCALL_" in out, out
    plain = html.unescape(html.unescape(out)).replace("\n    ", "")
    assert not any(secret[:12] in plain for secret in (KEY, TOKEN)), out


def test_the_slow_pattern_is_only_tried_where_a_secret_may_hide() -> None:
    """Our own URLs (every secret already replaced in its literal form) skip it."""
    r = redactor()
    url = f"http://h/verba/api?action=KeepCall&apiKey={KEY}&token=09835e02%2F6c10"
    assert r(url) == "http://h/verba/api?action=KeepCall&apiKey=$KEEPCALL_API_KEY&token=09835e02%2F6c10"
    assert not r._hidden(r(url))
    assert r._hidden("k " + _refs(KEY))


@pytest.mark.parametrize(("text", "limit", "cut", "expected"), [
    (f"a long answer {KEY} and more", 35, False, "a long answer $KEEPCALL_API_KEY and..."),
    (f"ends in {KEY[:12]}", 1000, True, "ends in $KEEPCALL_API_KEY..."),
    (f"ends in {KEY[:3]}", 1000, True, f"ends in {KEY[:3]}..."),  # too short to tell
    (f"whole {KEY}", 1000, False, "whole $KEEPCALL_API_KEY"),
])
def test_an_excerpt_never_shows_part_of_a_secret(text: str, limit: int, cut: bool,
                                                 expected: str) -> None:
    assert redactor().excerpt(text, limit, cut) == expected


def test_the_process_redactor_holds_what_a_run_registers() -> None:
    from conformance.wire.redact import SECRETS, redact
    from conformance.wire.target import Credentials

    secret = "kc-canary-process-KEY-0b1f"
    assert secret in redact(secret)
    credentials = Credentials(api_key=secret, password="kc-canary-process-PW")
    assert credentials.redactor() is SECRETS
    assert redact(f"key={secret}") == "key=$KEEPCALL_API_KEY"
    assert secret not in repr(credentials) and "kc-canary-process-PW" not in repr(credentials)


# --- a long text (a result file) is searched by one pattern of all the secrets -----------------
PIECES = [*ECHOED.values(), *encoded_forms(TOKEN), *encoded_forms(PASSWORD), f"apiKey={KEY}",
          "x=ab&y=abc", "token=abcdefgh y=abcd", "nothing secret here"]


def many_secrets() -> Redactor:
    """``redactor()``'s secrets among others, more than one chunk of them (the long path)."""
    r = redactor()
    for number in range(20):
        r.add(f"decoy-token-{number:04d}-of-the-run", "$KEEPCALL_TOKEN")
    r.add("ab", "$K")
    r.add("abcd", "$A")
    r.add("abcdefgh", "$B")
    return r


def test_a_long_text_is_redacted_as_its_pieces_are() -> None:
    """Every form, echoed mixture, short value and prefix, in a text past LONG_TEXT: the same
    as each piece redacted alone (the chunks' patterns)."""
    r = many_secrets()
    joined = " ~ ".join(PIECES)
    assert len(joined) < LONG_TEXT
    filler = "." * LONG_TEXT
    assert r(joined + filler) == " ~ ".join(r(piece) for piece in PIECES) + filler


def test_overlapping_secrets_in_a_long_text_are_both_hidden() -> None:
    r = many_secrets()
    r.add("efghijklmnop", "$C")
    out = r("." * LONG_TEXT + " abcdefghijklmnop " + "decoy-token-0001-of-the-run")
    assert out.endswith(" $B $KEEPCALL_TOKEN")


def test_a_text_redacted_before_a_secret_was_learnt_is_redacted_anew() -> None:
    """Short texts are remembered redacted; a secret learnt later (a token) is not missed."""
    redactor = Redactor({"the-api-key-1": "$KEY"})
    text = "apiKey=the-api-key-1&token=a-token-learnt-later"
    assert redactor(text) == "apiKey=$KEY&token=a-token-learnt-later"
    redactor.add("a-token-learnt-later", "$TOKEN")
    assert redactor(text) == "apiKey=$KEY&token=$TOKEN"
    assert redactor.header("Authorization", "Bearer a-token-learnt-later") == "Bearer $TOKEN"


# Secrets of a run that learnt many tokens, and texts that hold some of them in mixed forms.
MANY = [f"tok{i:02d}-{'abcdefghij'[i % 10] * 6}{i * 7919:x}" for i in range(40)] + ["k3y9"]
_MIXINGS = [lambda s: s[:3] + "%" + f"{ord(s[3]):02X}" + s[4:],
            lambda s: "&#" + str(ord(s[0])) + ";" + s[1:],
            lambda s: s[:5] + "\\n  " + s[5:],
            lambda s: base64.b64encode(b"xy" + s.encode()).decode()]
_MANY_REDACTOR = Redactor({secret: f"$S{i}" for i, secret in enumerate(MANY)})


@given(picks=st.lists(st.tuples(st.sampled_from(MANY), st.sampled_from(_MIXINGS)), max_size=3),
       noise=st.text(alphabet="ab%&;#=\\n0123456789-", max_size=40))
@example(picks=[(MANY[7], _MIXINGS[0])], noise="")  # a secret that ends the text
@example(picks=[(MANY[-1], _MIXINGS[0])], noise="")  # as short as a secret may be
@example(picks=[(MANY[8], _MIXINGS[1]), (MANY[9], _MIXINGS[2])], noise="")
def test_a_short_text_finds_the_secrets_hiding_in_it_as_a_long_one_does(
        picks: list[tuple[str, Callable[[str], str]]], noise: str) -> None:
    """A short text's views are read a place at a time against every needle, a long text's
    by one pattern of them all: both find the same secrets (and the texts are clean)."""
    redactor = _MANY_REDACTOR  # one for every example: its whole pattern is compiled once
    text = "?q=" + noise.join(mix(secret) for secret, mix in picks)
    found = redactor._hidden(text)
    assert set(found) == set(redactor._hidden(text, redactor._whole_pattern()))
    assert found == [s for s in MANY if s in found]  # in the order they were learnt
    assert {secret for secret, mix in picks if mix is not _MIXINGS[3]} <= set(found)
    assert not any(secret in redactor(text) for secret, _ in picks)


def test_threads_adding_and_redacting_at_once_leak_nothing() -> None:
    """One redactor serves every thread (the process's SECRETS): threads that each learn a
    token and at once redact a text holding it, in a mixed form, all get it replaced, with no
    error, though another thread's secret is added while their text is being redacted."""
    redactor, errors, leaks = Redactor(), [], []
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # threads change hands every few bytecodes

    def learn(n: int) -> None:
        try:
            for k in range(6):
                token = f"token-{n:02d}-{k:02d}-{'qrstuvwxyz'[k % 10] * 8}"
                redactor.add(token, f"$T{n}")
                text = f"?x=1&token={token[:5]}%{ord(token[5]):02X}{token[6:]}&y=%26"
                if token[6:] in redactor(text):
                    leaks.append(token)
        except Exception as error:  # the error is the finding
            errors.append(repr(error))

    try:
        threads = [threading.Thread(target=learn, args=(n,)) for n in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == [] and leaks == []


LONG_ONLY = [s for s in MANY if len(s) >= 8]


@functools.cache
def _long_only(unfiltered: bool) -> Redactor:
    """A redactor of LONG_ONLY, made once for every example (its patterns are compiled once);
    ``unfiltered``: one that tries its forms at every place of a text (no runs looked for)."""
    redactor = Redactor({secret: f"$S{i}" for i, secret in enumerate(LONG_ONLY)})
    if unfiltered:
        redactor._compiled()
        redactor._alphabet = None
    return redactor


@given(picks=st.lists(st.tuples(st.sampled_from(LONG_ONLY), st.sampled_from(
           [str, lambda s: base64.b64encode(b"xy" + s.encode()).decode()])), max_size=4),
       glue=st.text(alphabet="ab-=%|[ .0", max_size=6), long=st.booleans())
@example(picks=[(LONG_ONLY[0], str), (LONG_ONLY[1], str)], glue="", long=False)  # one run
@example(picks=[(LONG_ONLY[2], str)], glue="", long=True)
def test_the_runs_of_the_forms_characters_hold_every_form(
        picks: list[tuple[str, Callable[[str], str]]], glue: str, long: bool) -> None:
    """Only the runs of the characters the forms are made of, as long as the shortest form,
    are searched: the same as searching every place, at a run's start, end and middle, in a
    short text and a long one (one pattern of all)."""
    redactor = _long_only(unfiltered=False)
    text = "|x" + glue.join(mix(secret) + glue for secret, mix in picks) + "z"
    text = text + "|" * LONG_TEXT if long else text
    assert redactor._runs(text) != [(0, len(text))]
    assert redactor(text) == _long_only(unfiltered=True)(text)
    assert not any(secret in redactor(text) for secret, _ in picks)


def test_a_short_secret_has_every_place_searched() -> None:
    """A short secret's forms stand only after ``=``: no run is looked for, the whole text is."""
    redactor = Redactor({"k3y": "$K", LONG_ONLY[0]: "$L"})
    assert redactor._runs("a=k3y&b") == [(0, 7)]
    assert redactor("a=k3y&b=" + LONG_ONLY[0]) == "a=$K&b=$L"
