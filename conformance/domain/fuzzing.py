"""Fuzzing every byte of a request: any text in any parameter, and the request's shape.

The properties of the suite send values people might send; a generic fuzzer sends what nobody
would (control characters, NUL, characters outside the BMP, bytes that are not UTF-8, escapes
that are not escapes sent raw (``%zz``, a lone ``%``), 10,000 characters, names without ``=``)
in shapes the page never names (multipart, a Latin-1 body,
parameters split between query and body, HEAD, OPTIONS, a missing or wrong Content-Type).
A ``FuzzPlan`` is a meaningful example (strategies.py) with one or two parameters replaced
and a shape; ``Wire`` is the exact bytes it sends and the readings a server may take of them.
Where the shape is the plain one the oracle judges it like any case; otherwise the answer is
judged by what holds for any input (checks.invariant_judgement).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import quote, quote_from_bytes

from hypothesis import strategies as st

from conformance.catalog.spec import (
    ACTION,
    P_ACTION,
    P_API_KEY,
    P_CALL_ID,
    P_TOKEN,
    P_TYPE,
    PARAMETERS,
)
from conformance.domain.model import Credential, KeepCallRequest, Method
from conformance.domain.pools import UNKNOWN_NAMES, weighted
from conformance.domain.scenario_plans import CallPlan, ScenarioPlan
from conformance.domain.strategies import Example, Ref, RequestPlan, general_examples

LONG_VALUE: Final = 10_000
FORM_TYPE: Final = "application/x-www-form-urlencoded"
MULTIPART_BOUNDARY: Final = "keepcall-fuzz-boundary"
# What breaks parsers, escaping and encodings: controls (NUL, vertical tab, escape, DEL, C1),
# marks that reorder or combine, a BOM, characters outside the BMP, and the delimiters of
# query strings, URLs and markup.
SPECIALS: Final = ("\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\u200f",
                   "\u202e", "\u0301", "\ufeff", "\U0001f600", "\U00010348", "%", "+", "&", "=",
                   "#", "<", ">", '"', "'", ";", " ", "\t", "\n", "\r", "%zz", "%00", "&amp;")

Shape = Literal["query", "post", "form-charset", "latin1", "multipart", "split", "head",
                "options", "no-content-type", "wrong-content-type", "long-url"]
# The shapes the oracle judges exactly: the parameters as the target's probe says it reads them.
PLAIN: Final[frozenset[Shape]] = frozenset({"query", "post"})
SHAPES: Final[tuple[tuple[Shape, int], ...]] = (
    ("query", 4), ("post", 4), ("form-charset", 1), ("latin1", 1), ("multipart", 1),
    ("split", 1), ("head", 1), ("options", 1), ("no-content-type", 1),
    ("wrong-content-type", 1), ("long-url", 1))
# Credentials fail first and hide the rest, so they are fuzzed less often than the others;
# the action is checked first, so what it carries always reaches the answer.
FIELD_WEIGHTS: Final = {**{name: 3 for name in PARAMETERS}, P_ACTION: 5, P_API_KEY: 1,
                        P_TOKEN: 1, "unknown": 3}

# Escapes that are not escapes, sent raw: no hex digit follows any of them in a value built
# here (MALFORMED_AFTER), so a lenient decoder keeps each as typed and a strict one chokes.
MALFORMED_ESCAPES: Final = ("%zz", "%", "%4", "%%", "%G1", "%2")
MALFORMED_AFTER: Final = "ghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class Verbatim:
    """ASCII put on the wire as it is, never percent-encoded: a value holding an escape that is
    no escape. A server may read it as typed (Python, PHP, Node keep ``%zz``), drop the
    parameter (Tomcat, Go) or refuse the request (Jetty's 400)."""

    text: str


# A value as sent: text (percent-encoded as UTF-8), raw bytes (percent-encoded as they are,
# never valid UTF-8), Verbatim ASCII (not encoded at all) or None (the name alone, without "=").
Raw = str | bytes | Verbatim | None


@dataclass(frozen=True)
class Fuzz:
    """Replace (or add) parameter ``name`` with ``value``; "unknown" adds ``unknown_name``."""

    name: str
    value: Raw
    unknown_name: str = ""

    def __str__(self) -> str:
        shown = self.value if not isinstance(self.value, str) or len(self.value) <= 40 else (
            f"{self.value[:20]!r}...({len(self.value)} chars)")
        target = self.unknown_name if self.name == "unknown" else self.name
        return f"{target}={shown!r}"


@dataclass(frozen=True)
class FuzzPlan:
    """A meaningful example, its parameters fuzzed, sent in a shape."""

    example: Example
    fuzz: tuple[Fuzz, ...]
    shape: Shape

    def __repr__(self) -> str:
        return f"FuzzPlan[{self.shape} {', '.join(map(str, self.fuzz))} on {self.example!r}]"


# --- strategies -----------------------------------------------------------------------------
@functools.cache
def fuzz_text() -> st.SearchStrategy[str]:
    """Any text (no lone surrogates: they cannot be sent as UTF-8) around one to three
    SPECIALS; now and then 10,000 characters."""
    chars = st.text(st.characters(exclude_categories=["Cs"]), max_size=6)
    specials = st.lists(st.sampled_from(SPECIALS), min_size=1, max_size=3).map("".join)
    short = st.tuples(chars, specials, chars).map("".join)  # never without a special
    long_ = short.map(lambda s: (s * (LONG_VALUE // len(s) + 1))[:LONG_VALUE])
    return weighted((short, 4), (long_, 1))


@functools.cache
def malformed_escapes() -> st.SearchStrategy[Verbatim]:
    """A malformed escape between letters and digits, sent raw (``ab%zzq``, ``7%``)."""
    before = st.text(st.sampled_from("abcdef0123456789"), max_size=4)
    after = st.text(st.sampled_from(MALFORMED_AFTER), max_size=4)
    escape = st.sampled_from(MALFORMED_ESCAPES)
    return st.tuples(before, escape, after).map(lambda parts: Verbatim("".join(parts)))


@functools.cache
def raw_values() -> st.SearchStrategy[Raw]:
    """Text, bytes that are not UTF-8 (a lone 0xFF always among them), a malformed escape sent
    raw, or no value at all."""
    not_utf8 = st.binary(max_size=6).map(lambda b: b + b"\xff")
    return weighted((fuzz_text(), 8), (not_utf8, 2), (malformed_escapes(), 2), (st.none(), 1))


@functools.cache
def _fuzz() -> st.SearchStrategy[Fuzz]:
    name = weighted(*((st.just(n), w) for n, w in FIELD_WEIGHTS.items()))
    unknown = st.one_of(st.sampled_from(UNKNOWN_NAMES), fuzz_text())
    return st.builds(Fuzz, name, raw_values(), unknown)


@st.composite
def fuzz_plans(draw: st.DrawFn) -> FuzzPlan:
    example = draw(general_examples())
    fuzz = tuple(draw(st.lists(_fuzz(), min_size=1, max_size=2)))
    shape: Shape = draw(weighted(*((st.just(s), w) for s, w in SHAPES)))
    return FuzzPlan(example, fuzz, shape)


def _on_a_call(method: Method, *fuzz: Fuzz, shape: Shape = "query") -> FuzzPlan:
    scenario = ScenarioPlan((None,), (CallPlan("ongoing", 30, 0),))
    request = RequestPlan(((P_ACTION, ACTION), (P_CALL_ID, Ref("call", 0))), method)
    return FuzzPlan(Example(scenario, request), fuzz, shape)


# The seed corpus: one request of each class, run before the generated ones (however few
# examples a run allows): what XML cannot carry and markup echoed back, 10,000 characters,
# bytes that are not UTF-8, and a shape the page does not name.
CORPUS: Final[tuple[FuzzPlan, ...]] = (
    _on_a_call("GET", Fuzz(P_ACTION, "\x00\x0b<&")),
    _on_a_call("POST", Fuzz(P_TYPE, "\x1b" * LONG_VALUE), shape="post"),
    _on_a_call("POST", Fuzz(P_TYPE, b"\xfc"), shape="post"),
    _on_a_call("POST", shape="multipart"),
    _on_a_call("GET", Fuzz(P_TYPE, Verbatim("%zz"))),
    _on_a_call("POST", Fuzz("unknown", Verbatim("%"), "colour"), shape="post"),
)


# --- the wire -------------------------------------------------------------------------------
Field = tuple[str, Raw]


@dataclass(frozen=True)
class Wire:
    """What one fuzzed request sends, byte for byte, and how a server may read it.

    ``views`` are the requests a server may have read, as the oracle sees requests: all the
    parameters, or only those of the query, or only those of the body."""

    method: str
    query: bytes
    body: bytes
    headers: dict[str, str]
    views: tuple[KeepCallRequest, ...]
    exact: bool  # the plain shape with text values: the oracle judges it like a matrix case


def fields_of(request: KeepCallRequest, credentials: list[tuple[str, str]],
              fuzz: tuple[Fuzz, ...]) -> list[Field]:
    """The request's parameters (credentials first), each fuzz applied in turn."""
    fields: list[Field] = [*credentials, *request.params]
    for one in fuzz:
        if one.name == "unknown":
            fields.append((one.unknown_name, one.value))
            continue
        at = next((i for i, (n, _) in enumerate(fields) if n == one.name), None)
        if at is None:
            fields.append((one.name, one.value))
        else:
            fields[at] = (one.name, one.value)
    return fields


def build(plan: FuzzPlan, request: KeepCallRequest, credentials: list[tuple[str, str]],
          post_in_query: bool) -> Wire:
    """The bytes of ``plan`` for ``request`` (its scenario instantiated) with ``credentials``
    (the target's parameters for it), and its readings; ``post_in_query``: the target reads
    a POST's parameters from the query."""
    fields = fields_of(request, credentials, plan.fuzz)
    valid = {P_API_KEY: request.api_key, P_TOKEN: request.token}
    secrets = {n: v for n, v in credentials if valid.get(n) is Credential.VALID}
    unsent = {n: c for n, c in valid.items() if all(f != n for f, _ in fields)}
    shape = plan.shape
    if shape == "long-url":
        fields.append(("pad", "x" * LONG_VALUE))
    method = {"query": "GET", "long-url": "GET", "head": "HEAD", "options": "OPTIONS"}.get(
        shape, "POST")
    in_query = method != "POST" or (shape == "post" and post_in_query)
    half = len(fields) // 2
    query_fields, body_fields = ((fields, []) if in_query else
                                 (fields[:half], fields[half:]) if shape == "split" else
                                 ([], fields))
    body, headers = _body(shape, body_fields)
    query = _encode(query_fields)
    view_method: Method = "POST" if method == "POST" else "GET"
    readings = [fields, query_fields, body_fields] if body_fields and query_fields else (
        [fields, query_fields] if body_fields else [fields])
    readings += [kept for kept in map(_decodable, readings) if kept not in readings]
    views = tuple(dict.fromkeys(_view(f, view_method, secrets, unsent, in_query)
                                for f in readings))
    exact = shape in PLAIN and all(isinstance(v, str) for _, v in fields)
    return Wire(method, query, body, headers, views, exact)


def _decodable(fields: list[Field]) -> list[Field]:
    """The fields a server keeps that drops what it cannot decode (Tomcat drops a parameter
    whose bytes are not UTF-8 or whose escape is malformed, and reads the rest)."""
    return [(n, v) for n, v in fields if not isinstance(v, bytes | Verbatim)]


def _body(shape: Shape, fields: list[Field]) -> tuple[bytes, dict[str, str]]:
    if not fields:
        return b"", {}
    if shape == "multipart":
        return _multipart(fields), {
            "Content-Type": f"multipart/form-data; boundary={MULTIPART_BOUNDARY}"}
    if shape == "latin1":
        return _encode(fields, "latin-1"), {"Content-Type": f"{FORM_TYPE}; charset=ISO-8859-1"}
    types = {"form-charset": f"{FORM_TYPE}; charset=UTF-8", "no-content-type": "",
             "wrong-content-type": "text/plain"}
    return _encode(fields), {"Content-Type": types.get(shape, FORM_TYPE)}


def _encode(fields: list[Field], charset: str = "utf-8") -> bytes:
    """``name=value&...``: text percent-encoded in ``charset`` (what it cannot carry becomes
    ``?``), bytes percent-encoded as they are, a name without a value alone."""
    def part(text: str) -> str:
        return quote(text, safe="", encoding=charset, errors="replace")
    pieces: list[str] = []
    for name, value in fields:
        if value is None:
            pieces.append(part(name))
        elif isinstance(value, bytes):
            pieces.append(f"{part(name)}={quote_from_bytes(value, safe='')}")
        elif isinstance(value, Verbatim):
            pieces.append(f"{part(name)}={value.text}")
        else:
            pieces.append(f"{part(name)}={part(value)}")
    return "&".join(pieces).encode("ascii")


def _multipart(fields: list[Field]) -> bytes:
    out = b""
    for name, value in fields:
        data = (b"" if value is None else value if isinstance(value, bytes) else
                value.text.encode() if isinstance(value, Verbatim) else value.encode())
        quoted = quote(name, safe="")
        out += (f"--{MULTIPART_BOUNDARY}\r\nContent-Disposition: form-data; name=\"{quoted}\""
                "\r\n\r\n").encode() + data + b"\r\n"
    return out + f"--{MULTIPART_BOUNDARY}--\r\n".encode()


def _as_read(value: Raw) -> str:
    """A value as a lenient server reads it: bytes decoded with replacement, a malformed escape
    as typed, a name alone as an empty value."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value.text if isinstance(value, Verbatim) else value


def _view(fields: list[Field], method: Method, secrets: dict[str, str],
          unsent: dict[str, Credential], in_query: bool) -> KeepCallRequest:
    """The request as the oracle sees it, had a server read exactly ``fields``: bytes decoded
    with replacement, a name alone read as an empty value, credentials by what they are (a
    credential never sent, such as the token of a key that needs none, as the case had it)."""
    credential = {P_API_KEY: Credential.MISSING, P_TOKEN: Credential.MISSING, **unsent}
    seen: set[str] = set()
    params: list[tuple[str, str]] = []
    for name, value in fields:
        text = _as_read(value)
        if name in credential and name not in seen:
            seen.add(name)
            credential[name] = Credential.VALID if text == secrets.get(name) else \
                Credential.INVALID
            continue
        params.append((name, text))
    return KeepCallRequest(tuple(params), method, credential[P_API_KEY], credential[P_TOKEN],
                           post_in_query=in_query and method == "POST")
