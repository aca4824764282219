"""Validators: table-driven envelopes, hostile XML that must cost nothing, HTML and TEXT tables."""

from __future__ import annotations

import resource
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest
from hostile import (
    BILLION_LAUGHS,
    DOCTYPE_DOCUMENT,
    INVALID_UTF8,
    QUADRATIC_BLOWUP,
    UTF8_ERROR,
    recorder,
    xxe_document,
    xxe_parameter_document,
)
from lxml import etree

from conformance.catalog.requirements import BY_ID
from conformance.wire.validators import (
    FormatVerdict,
    XmlVerdict,
    code_is_zero,
    content_type_observation,
    finding,
    lxml_schema,
    parse_xml,
    pretty_xml,
    readable_schema,
    schema_file,
    sniff_format,
    validate_format,
    validate_html,
    validate_text,
    validate_xml,
)

DECL = '<?xml version="1.0" encoding="UTF-8"?>\n'
UTF8 = "text/xml; charset=UTF-8"

VALID: dict[str, str] = {
    "success compact": '<VerbaApi><Response code="0" type="KeepCall"/></VerbaApi>',
    "success with declaration": DECL + '<VerbaApi><Response code="0" type="KeepCall"/></VerbaApi>',
    "success pretty": DECL + '<VerbaApi>\n  <Response code="0" type="KeepCall">\n  </Response>\n'
                      "</VerbaApi>\n",
    "error sample": '<VerbaApi><Response code="2" type="KeepCall"><ErrorMessage>Call cannot be '
                    "found.</ErrorMessage></Response></VerbaApi>",
    "error with description": DECL + '<VerbaApi>\n<Response code="2" type="KeepCall">\n'
                              '  <ErrorMessage description="Error">Call cannot be found.'
                              "</ErrorMessage>\n</Response>\n</VerbaApi>",
    "payload inside Response": '<VerbaApi><Response code="0" type="KeepCall"><Call><ID>1</ID>'
                               "</Call></Response></VerbaApi>",
    "payload after Response": '<VerbaApi><Response code="0" type="KeepCall"/><CallID>a8</CallID>'
                              "</VerbaApi>",
    "payload before ErrorMessage": '<VerbaApi><Response code="7" type="KeepCall"><Hint/>'
                                   "<ErrorMessage>x</ErrorMessage></Response></VerbaApi>",
    "extra attributes": '<VerbaApi v="1"><Response code="0" type="KeepCall" description="ok" '
                        'extra="1"/></VerbaApi>',
    "comment and BOM": "\ufeff" + DECL + '<!-- hi --><VerbaApi><Response code="0" '
                       'type="KeepCall"/></VerbaApi>',
    "code with whitespace": '<VerbaApi><Response code=" 0 " type="KeepCall"/></VerbaApi>',
    # "A schema must allow both and must not reject extra payload": before Response too.
    "payload before Response": '<VerbaApi><CallID>a8</CallID><Response code="0" '
                               'type="KeepCall"/></VerbaApi>',
    "payload around Response": '<VerbaApi><A/><Response code="0" type="KeepCall"><B/></Response>'
                               "<C/></VerbaApi>",
    "text in Response": '<VerbaApi><Response code="0" type="KeepCall">Call kept.</Response>'
                        "</VerbaApi>",
    "text beside ErrorMessage": '<VerbaApi><Response code="2" type="KeepCall">failed '
                                "<ErrorMessage>x</ErrorMessage></Response></VerbaApi>",
    "markup in ErrorMessage": '<VerbaApi><Response code="2" type="KeepCall"><ErrorMessage>Call '
                              "<b>cannot</b> be found.</ErrorMessage></Response></VerbaApi>",
    "code with a plus sign": '<VerbaApi><Response code="+0" type="KeepCall"/></VerbaApi>',
    "code 00": '<VerbaApi><Response code="00" type="KeepCall"/></VerbaApi>',
    "bare DOCTYPE": '<!DOCTYPE VerbaApi><VerbaApi><Response code="0" type="KeepCall"/>'
                    "</VerbaApi>",
}

INVALID: list[tuple[str, bytes, str | None, str]] = [
    ("empty", b"", None, "KC-XML-001"),
    ("whitespace only", b"  \n", None, "KC-XML-001"),
    ("not well-formed (vendor sample)", b'<VerbaApi><Response code="0" type="KeepCall"/>'
     b"<VerbaApi>", None, "KC-XML-001"),
    ("stray closing Response", b'<VerbaApi><Response code="0" type="KeepCall"/></Response>'
     b"</VerbaApi>", None, "KC-XML-001"),
    ("invalid UTF-8", INVALID_UTF8, None, "KC-XML-001"),
    ("latin-1 declared", b'<?xml version="1.0" encoding="ISO-8859-1"?><VerbaApi><Response '
     b'code="0" type="KeepCall"/></VerbaApi>', None, "KC-XML-001"),
    ("undeclared entity", b'<VerbaApi><Response code="2" type="KeepCall"><ErrorMessage>a&nbsp;b'
     b"</ErrorMessage></Response></VerbaApi>", None, "KC-XML-001"),
    ("entity of an external DTD", b'<!DOCTYPE VerbaApi SYSTEM "http://x/v.dtd"><VerbaApi>'
     b'<Response code="2" type="KeepCall"><ErrorMessage>a&nbsp;b</ErrorMessage></Response>'
     b"</VerbaApi>", None, "KC-XML-001"),
    ("external entity", xxe_document("file:///etc/passwd"), None, "KC-XML-001"),
    ("plain text", b"Call kept.", None, "KC-XML-001"),
    ("HTML page", b"<html><body>ok</body></html>", None, "KC-XML-002"),
    ("wrong root", b'<Api><Response code="0" type="KeepCall"/></Api>', None, "KC-XML-002"),
    ("ErrorMessage as root", b"<ErrorMessage>x</ErrorMessage>", None, "KC-XML-002"),
    ("namespaced root", b'<VerbaApi xmlns="urn:x"><Response code="0" type="KeepCall"/>'
     b"</VerbaApi>", None, "KC-XML-002"),
    ("no Response", b"<VerbaApi><Result/></VerbaApi>", None, "KC-XML-002"),
    ("empty VerbaApi", b"<VerbaApi/>", None, "KC-XML-002"),
    ("Response only nested", b'<VerbaApi><X><Response code="0" type="KeepCall"/></X>'
     b"</VerbaApi>", None, "KC-XML-002"),
    ("two Responses", b'<VerbaApi><Response code="0" type="KeepCall"/><Response code="0" '
     b'type="KeepCall"/></VerbaApi>', None, "KC-XML-002"),
    ("two Responses apart", b'<VerbaApi><Response code="0" type="KeepCall"/><X/><Response '
     b'code="0" type="KeepCall"/></VerbaApi>', None, "KC-XML-002"),
    ("bad code after payload", b'<VerbaApi><X/><Response code="ok" type="KeepCall"/>'
     b"</VerbaApi>", None, "KC-XML-002"),
    ("code missing", b'<VerbaApi><Response type="KeepCall"/></VerbaApi>', None, "KC-XML-002"),
    ("code not an integer", b'<VerbaApi><Response code="ok" type="KeepCall"/></VerbaApi>', None,
     "KC-XML-002"),
    ("type empty", b'<VerbaApi><Response code="0" type=""/></VerbaApi>', None, "KC-XML-003"),
    ("code in another script", '<VerbaApi><Response code="\u0660" type="KeepCall"/>'
     "</VerbaApi>".encode(), None, "KC-XML-002"),
    ("type of another action", b'<VerbaApi><Response code="0" type="GetMarkers"/></VerbaApi>',
     None, "KC-XML-003"),
    ("type missing", b'<VerbaApi><Response code="0"/></VerbaApi>', None, "KC-XML-003"),
    ("type missing, code +0", b'<VerbaApi><Response code="+0"/></VerbaApi>', None, "KC-XML-003"),
    ("type missing, code unusable", b'<VerbaApi><Response code="x"/></VerbaApi>', None,
     "KC-XML-003"),
    ("type in other case", b'<VerbaApi><Response code="0" type="keepcall"/></VerbaApi>', None,
     "KC-XML-003"),
    ("error without ErrorMessage", b'<VerbaApi><Response code="2" type="KeepCall"/></VerbaApi>',
     None, "KC-XML-005"),
    ("error with empty ErrorMessage", b'<VerbaApi><Response code="2" type="KeepCall">'
     b"<ErrorMessage>  </ErrorMessage></Response></VerbaApi>", None, "KC-XML-005"),
    ("ErrorMessage only after Response", b'<VerbaApi><Response code="2" type="KeepCall"/>'
     b"<ErrorMessage>x</ErrorMessage></VerbaApi>", None, "KC-XML-005"),
    ("error +2 without ErrorMessage", b'<VerbaApi><Response code="+2" type="KeepCall"/>'
     b"</VerbaApi>", None, "KC-XML-005"),
]


def requirements_hit(body: bytes, content_type: str | None = None) -> set[str]:
    return {f.requirement for f in validate_xml(body, content_type).findings}


def observed(verdict: XmlVerdict | FormatVerdict) -> set[tuple[str, str]]:
    """The observations as (requirement, reading); each on an OBSERVE requirement."""
    assert all(BY_ID[o.requirement].level == "OBSERVE" for o in verdict.observations)
    return {(o.requirement, o.message) for o in verdict.observations}


@pytest.mark.parametrize("name", VALID)
def test_valid_envelopes_have_no_findings(name: str) -> None:
    verdict = validate_xml(VALID[name].encode(), UTF8)
    assert verdict.findings == ()
    assert verdict.type == "KeepCall"


@pytest.mark.parametrize(("name", "body", "content_type", "requirement"), INVALID,
                         ids=[case[0] for case in INVALID])
def test_bad_envelopes_hit_their_requirement(
    name: str, body: bytes, content_type: str | None, requirement: str
) -> None:
    findings = validate_xml(body, content_type).findings
    assert requirement in {f.requirement for f in findings}, findings
    assert all(f.requirement in BY_ID and len(f.message) < 400 for f in findings)


def test_verdict_fields() -> None:
    verdict = validate_xml(VALID["error with description"].encode(), UTF8)
    assert (verdict.code, verdict.type) == ("2", "KeepCall")
    assert verdict.error_message == "Call cannot be found."
    payload = validate_xml(b'<VerbaApi><Response code="0" type="KeepCall"><A/><ErrorMessage>x'
                           b"</ErrorMessage></Response><B/><!-- c --></VerbaApi>", None).payload
    assert payload == ("A", "B")
    payload = validate_xml(VALID["payload around Response"].encode(), None).payload
    assert payload == ("A", "B", "C")  # document order, payload before Response included
    message = validate_xml(VALID["markup in ErrorMessage"].encode(), None).error_message
    assert message == "Call cannot be found."


def test_response_count_is_checked_beside_the_schema() -> None:
    """The XSD takes any children in any order; validators.py wants exactly one Response."""
    for body in (b"<VerbaApi><Result/></VerbaApi>", b'<VerbaApi><Response code="0" '
                 b'type="KeepCall"/><X/><Response code="0" type="KeepCall"/></VerbaApi>'):
        assert lxml_schema().validate(etree.fromstring(body))
        (finding,) = validate_xml(body, None).findings
        assert finding.requirement == "KC-XML-002" and "not exactly one" in finding.message


# --- Response/@type: expected type, success and error ----------------------------------------

NO_TYPE_ERROR = (b'<VerbaApi><Response code="2"><ErrorMessage>Unknown action.</ErrorMessage>'
                 b"</Response></VerbaApi>")
NO_TYPE_SUCCESS = b'<VerbaApi><Response code="0"/></VerbaApi>'
OTHER_TYPE_ERROR = (b'<VerbaApi><Response code="2" type="GetMarkers"><ErrorMessage>x'
                    b"</ErrorMessage></Response></VerbaApi>")
ERROR_WITHOUT_TYPE = {("KC-XML-006", "error without type")}


@pytest.mark.parametrize(("body", "expected_type", "failed", "observations"), [
    (NO_TYPE_ERROR, "KeepCall", set(), ERROR_WITHOUT_TYPE),
    (NO_TYPE_ERROR.replace(b'"2"', b'"-7"'), "KeepCall", set(), ERROR_WITHOUT_TYPE),
    (NO_TYPE_SUCCESS, "KeepCall", {"KC-XML-003"}, set()),
    (NO_TYPE_SUCCESS.replace(b'"0"', b'"-0"'), "KeepCall", {"KC-XML-003"}, set()),
    (OTHER_TYPE_ERROR, "KeepCall", {"KC-XML-003"}, set()),
    (OTHER_TYPE_ERROR, None, set(), set()),
    (NO_TYPE_SUCCESS, None, set(), set()),
    (NO_TYPE_ERROR, None, set(), ERROR_WITHOUT_TYPE),
    (b'<VerbaApi><Response code="0" type="GetMarkers"/></VerbaApi>', None, set(), set()),
    (b'<VerbaApi><Response code="0" type="RequestToken"/></VerbaApi>', "RequestToken", set(),
     set()),
    (b'<VerbaApi><Response code="0" type="KeepCall "/></VerbaApi>', "KeepCall", {"KC-XML-003"},
     set()),
], ids=["error-no-type", "negative-code-no-type", "success-no-type", "minus-zero-no-type",
        "other-type", "other-type-unknown-action", "success-no-type-unknown-action",
        "error-no-type-unknown-action", "success-other-type-unknown-action", "token-type",
        "type-with-space"])
def test_response_type_against_the_expected_type(
    body: bytes, expected_type: str | None, failed: set[str],
    observations: set[tuple[str, str]],
) -> None:
    verdict = validate_xml(body, None, expected_type)
    assert {f.requirement for f in verdict.findings} == failed, verdict.findings
    assert observed(verdict) - {("KC-XML-007", "none")} == observations


def test_schema_allows_a_missing_or_empty_type() -> None:
    """An error to a request naming no action may name none (KC-XML-003 judges the type of
    answers to action=KeepCall)."""
    schema = lxml_schema()
    assert schema.validate(etree.fromstring(NO_TYPE_ERROR))
    assert schema.validate(etree.fromstring(b'<VerbaApi><Response code="2" type="">'
                                            b"<ErrorMessage>No action.</ErrorMessage>"
                                            b"</Response></VerbaApi>"))


# --- the one parser of codes ------------------------------------------------------------------

@pytest.mark.parametrize(("code", "zero"), [
    ("0", True), ("+0", True), ("-0", True), ("00", True), (" 0 ", True), ("\t0\n", True),
    ("2", False), ("-2", False), ("+02", False), ("10", False),
    (None, None), ("", None), (" ", None), ("x", None), ("0x0", None), ("1_0", None),
    ("\u0660", None), ("\u00b2", None), ("--0", None), ("+-0", None), ("0 0", None),
    ("\u00a00", None), ("0.0", None), ("1e0", None),
])
def test_code_is_zero_reads_the_xs_integer_lexical_space(code: str | None,
                                                          zero: bool | None) -> None:
    assert code_is_zero(code) is zero


@pytest.mark.parametrize("code", ["+0", "00", "-0", " 0 "])
def test_every_zero_spelling_is_a_success_everywhere(code: str) -> None:
    """No ErrorMessage is needed and a missing type still fails: the code is a success."""
    body = f'<VerbaApi><Response code="{code}"/></VerbaApi>'.encode()
    assert {f.requirement for f in validate_xml(body, None).findings} == {"KC-XML-003"}


# --- charsets: the body decides, the header is observed ---------------------------------------

@pytest.mark.parametrize("body", [VALID["success with declaration"].encode(), UTF8_ERROR,
                                  VALID["success compact"].encode()],
                         ids=["ascii", "non-ascii", "no-declaration"])
def test_header_charset_is_observed_not_failed(body: bytes) -> None:
    verdict = validate_xml(body, "text/xml; charset=iso-8859-1")
    assert verdict.findings == ()
    assert ("KC-RT-007", "text/xml, charset iso-8859-1") in observed(verdict)


def test_utf8_header_charset_is_no_observation() -> None:
    verdict = validate_xml(UTF8_ERROR, UTF8)
    assert verdict.findings == ()
    assert {o.requirement for o in verdict.observations} == {"KC-XML-007"}


@pytest.mark.parametrize("content_type", [UTF8, "text/xml", None])
def test_body_encoding_still_decides(content_type: str | None) -> None:
    latin = UTF8_ERROR.decode().encode("latin-1", "replace")
    declared = (b'<?xml version="1.0" encoding="ISO-8859-1"?><VerbaApi><Response code="0" '
                b'type="KeepCall"/></VerbaApi>')
    for body in (latin, declared):
        findings = validate_xml(body, content_type).findings
        assert "KC-XML-001" in {f.requirement for f in findings}


# --- DOCTYPE: observed, never loaded ------------------------------------------------------------

@pytest.mark.parametrize("body", [
    VALID["bare DOCTYPE"].encode(), DOCTYPE_DOCUMENT,
    b'<!DOCTYPE VerbaApi SYSTEM "http://127.0.0.1:9/v.dtd"><VerbaApi><Response code="0" '
    b'type="KeepCall"/></VerbaApi>',
    b'<!DOCTYPE VerbaApi [<!ENTITY c "0">]><VerbaApi><Response code="&c;" type="KeepCall"/>'
    b"</VerbaApi>",
], ids=["bare", "internal-subset", "external-subset", "entity-in-attribute"])
def test_doctype_is_an_observation(body: bytes) -> None:
    verdict = validate_xml(body, UTF8)
    assert verdict.findings == ()
    assert observed(verdict) == {("KC-XML-007", "DOCTYPE declared")}


def test_no_doctype_is_observed_as_none() -> None:
    assert observed(validate_xml(VALID["success compact"].encode(), UTF8)) == {
        ("KC-XML-007", "none")}


@pytest.mark.parametrize(("body", "token"), [
    (b'<VerbaApi><Response code="0" type="RequestToken" token="t-1"/></VerbaApi>', "t-1"),
    (b'<VerbaApi><Response code="0" type="RequestToken"><Token> t-2 </Token></Response>'
     b"</VerbaApi>", "t-2"),
    (b'<VerbaApi><Response code="0" type="RequestToken"/><Token>t-3</Token></VerbaApi>', "t-3"),
    (b'<VerbaApi><Response code="2" type="RequestToken"><ErrorMessage>no</ErrorMessage>'
     b"</Response></VerbaApi>", None),
])
def test_token_from_attribute_or_element(body: bytes, token: str | None) -> None:
    verdict = validate_xml(body, None, "RequestToken")
    assert verdict.token == token
    assert verdict.findings == ()


def test_schema_invalid_message_names_the_path_and_line() -> None:
    (finding,) = validate_xml(b'<VerbaApi>\n\n<Response code="x" type="KeepCall"/></VerbaApi>',
                              None).findings
    assert "/VerbaApi/Response (line 3)" in finding.message and "'x'" in finding.message


def test_xml_is_pretty_printed_for_the_reader_and_nothing_else_is() -> None:
    shown = pretty_xml(b'<VerbaApi><Response code="0" type="KeepCall"/></VerbaApi>')
    assert shown == '<VerbaApi>\n  <Response code="0" type="KeepCall"/>\n</VerbaApi>'
    assert pretty_xml(b"<VerbaApi><Response>") is None  # not well-formed: shown as it came
    assert pretty_xml(b"OK token=abc") is None
    entity = pretty_xml(b'<!DOCTYPE a [<!ENTITY e "xyz">]><a>&e;</a>')
    assert entity is not None and "&e;" in entity and "xyz" not in entity  # never expanded


def test_schema_loads_in_both_validators() -> None:
    assert isinstance(lxml_schema(), etree.XMLSchema)
    schema = readable_schema()
    for body in VALID.values():
        assert schema.is_valid(body.encode().lstrip(b"\xef\xbb\xbf"))


def test_every_schema_ships_as_package_data() -> None:
    """The editable install maps all of schemas/; ``pip install .`` ships only what the
    package-data globs name, and no source tree is searched: a file they miss would work here
    and be missing from an installed suite."""
    root = Path(__file__).resolve().parent.parent
    setuptools = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    globs = setuptools["package-data"]["conformance.schemas"]
    shipped = [p.name for p in (root / "schemas").iterdir()
               if p.is_file() and p.name != "__init__.py"]
    assert len(shipped) >= 5
    for name in shipped:
        assert any(fnmatch(name, glob) for glob in globs), name
        assert schema_file(name).is_file(), name


# --- hostile XML ------------------------------------------------------------------------------

def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("bomb", [BILLION_LAUGHS, QUADRATIC_BLOWUP], ids=["laughs", "quadratic"])
def test_entity_bombs_are_flagged_and_never_expanded(bomb: bytes) -> None:
    before = max_rss_mb()
    root, findings = parse_xml(bomb)
    grown = max_rss_mb() - before
    assert findings and {f.requirement for f in findings} == {"KC-XML-001"}
    assert root is None or len("".join(root.itertext())) < 10_000
    assert grown < 200, f"parsing grew the process by {grown:.0f} MB"


@pytest.mark.parametrize("make", [xxe_document, xxe_parameter_document],
                         ids=["general-entity", "parameter-entity"])
def test_external_entities_fetch_nothing(make: object) -> None:
    assert callable(make)
    with recorder(b"root:x:0:0:stolen") as witness:
        for system_id in (f"{witness.url}/xxe", "file:///etc/passwd"):
            body = make(system_id)
            root, _ = parse_xml(body)
            text = "" if root is None else "".join(root.itertext())
            assert "root:" not in text and "stolen" not in text
            verdict = validate_xml(body, UTF8)
            assert ("KC-XML-007", "DOCTYPE declared") in observed(verdict)
    assert not witness.contacted, "the parser connected to the entity's URL"


def test_an_unexpanded_entity_is_a_finding_not_a_guess() -> None:
    root, findings = parse_xml(xxe_document("file:///etc/passwd"))
    assert root is not None
    (finding,) = findings
    assert finding.requirement == "KC-XML-001" and "&xxe;" in finding.message


@pytest.mark.parametrize(("body", "failed"), [
    (BILLION_LAUGHS, True), (QUADRATIC_BLOWUP, True), (DOCTYPE_DOCUMENT, False),
    (xxe_document("file:///etc/passwd"), True), (xxe_parameter_document("file:///etc/passwd"),
                                                 False),
    (INVALID_UTF8, True), (b"\x00" * 100, True), (b"<" * 10_000, True),
    (b"<a>" * 300 + b"</a>" * 300, True), (b"\xef\xbb\xbf", True),
    (b"<?xml version='1.0' encoding='x-bogus'?><a/>", True),
], ids=["laughs", "quadratic", "doctype", "xxe", "xxe-param", "bad-utf8", "nul", "lt",
        "deep", "bom", "bogus-encoding"])
def test_validate_xml_never_raises_on_hostile_documents(body: bytes, failed: bool) -> None:
    """Well-formed documents with a DOCTYPE (even an external subset nobody reads) are no
    KC-XML-001 finding; documents the suite cannot read (bombs, unexpanded entities, a tree
    deeper than the parser's limit, bad bytes) are."""
    verdict = validate_xml(body, "text/xml")
    assert ("KC-XML-001" in {f.requirement for f in verdict.findings}) is failed


# --- HTML, TEXT, sniffing -----------------------------------------------------------------------

XHTML_STRICT = (b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE html PUBLIC "-//W3C//DTD '
                b'XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\n'
                b'<html xmlns="http://www.w3.org/1999/xhtml"><head><title>KeepCall</title></head>'
                b"<body><p>Call kept.</p></body></html>")
HTML_GOOD: list[tuple[str, bytes, str | None, str]] = [
    ("full document", b"<!DOCTYPE html><html><head><title>KeepCall</title></head><body><table>"
     b"<tr><td>0</td></tr></table></body></html>", "text/html; charset=utf-8", "document"),
    ("without head", b"<html><body>Call kept.</body></html>", None, "document"),
    ("fragment", b"<p>Call cannot be found.</p>", "text/html", "fragment"),
    ("latin-1 declared", "<html><body>Anruf gefunden \u00fc</body></html>".encode("latin-1"),
     "text/html; charset=ISO-8859-1", "document"),
    ("meta charset", b'<html><head><meta charset="windows-1252"></head><body>\x80</body></html>',
     None, "document"),
    ("xhtml with declaration", b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml">'
     b"<body>ok</body></html>", None, "XHTML"),
    ("xhtml declaring its encoding", XHTML_STRICT, "text/html; charset=utf-8", "XHTML"),
    ("xhtml, encoding only in the declaration", b'<?xml version="1.0" encoding="ISO-8859-1"?>'
     b"<html><body>Anruf \xfc</body></html>", None, "XHTML"),
    ("xhtml namespace only", b'<html xmlns="http://www.w3.org/1999/xhtml"><body>ok</body></html>',
     None, "XHTML"),
    ("text first, then an element", b"Call kept.<br/>", "text/html", "fragment"),
    ("text around an element", b"Call <b>cannot</b> be found.", None, "fragment"),
    ("BOM and whitespace first", b"\xef\xbb\xbf \n<p>ok</p>", None, "fragment"),
]
HTML_BAD: list[tuple[str, bytes, str | None, str]] = [
    ("empty", b"", "text/html", "empty"),
    ("XML envelope", VALID["success with declaration"].encode(), "text/html", "XML envelope"),
    ("envelope without declaration", VALID["success compact"].encode(), None, "XML envelope"),
    ("plain text", b"Call kept.", "text/html", "plain text"),
    ("whitespace only", b" \n", "text/html", "empty"),
    ("a less-than in plain text", b"Call kept. a<b", None, "plain text"),
    ("unknown markup", b"<result>ok</result>", None, "without any HTML element"),
    ("XML without the envelope", b'<?xml version="1.0"?><result>ok</result>', None,
     "XML without any HTML element"),
    ("envelope in XHTML clothes", b'<?xml version="1.0"?><VerbaApi><Response code="0" '
     b'type="KeepCall"><p>x</p></Response></VerbaApi>', None, "XML envelope"),
    ("not the declared charset", "<html>\u00fc</html>".encode("latin-1"),
     "text/html; charset=utf-8", "not utf-8"),
    ("unknown charset", b"<html></html>", "text/html; charset=klingon", "unknown charset"),
]
TEXT_GOOD: list[tuple[str, bytes, str | None, str]] = [
    ("sentence", b"Call kept.", "text/plain", "plain TEXT"),
    ("code and message", b"code=2 Call cannot be found.\n", None, "plain TEXT"),
    ("comparison sign inside", b"status: 0 < 1", None, "plain TEXT"),
    ("latin-1 declared", "Anruf \u00fc".encode("latin-1"), "text/plain; charset=iso-8859-1",
     "plain TEXT"),
    ("empty", b"", None, "empty TEXT"),
    ("whitespace only", b" \r\n", "text/plain", "empty TEXT"),
    ("BOM only", b"\xef\xbb\xbf", None, "empty TEXT"),
    ("JSON object", b'{"code": 0, "type": "KeepCall"}', "text/plain", "JSON-like TEXT"),
    ("JSON array", b"[0]\n", None, "JSON-like TEXT"),
    ("JSON quoting markup", b'{"message": "<body>"}', None, "JSON-like TEXT"),
    ("less-than first", b"<2 calls found", None, "plain TEXT"),
    ("bracketed word", b"[ERROR] Call cannot be found.", None, "plain TEXT"),
]
TEXT_BAD: list[tuple[str, bytes, str | None, str]] = [
    ("XML envelope", VALID["success with declaration"].encode(), None, "got XML"),
    ("envelope without declaration", VALID["success compact"].encode(), None, "got XML"),
    ("HTML", b"<html><body>ok</body></html>", None, "got HTML"),
    ("markup later", b"Result: <body>ok</body>", None, "got"),
    ("envelope later", b"ok <VerbaApi/>", None, "got"),
    ("invalid UTF-8 declared", b"Anruf \xff", "text/plain; charset=utf-8", "not utf-8"),
    ("HTML document type", b"<!DOCTYPE html><p>ok", None, "got HTML"),
    ("tag first", b"<p>Call kept.</p>", None, "got HTML"),
]


@pytest.mark.parametrize(("name", "body", "content_type", "shape"), HTML_GOOD,
                         ids=[c[0] for c in HTML_GOOD])
def test_html_good(name: str, body: bytes, content_type: str | None, shape: str) -> None:
    assert validate_html(body, content_type) == ()
    verdict = validate_format("HTML", body, content_type)
    assert verdict.findings == ()
    assert observed(verdict) == {("KC-RT-011", shape)}


@pytest.mark.parametrize(("name", "body", "content_type", "evidence"), HTML_BAD,
                         ids=[c[0] for c in HTML_BAD])
def test_html_bad(name: str, body: bytes, content_type: str | None, evidence: str) -> None:
    (finding,) = validate_html(body, content_type)
    assert finding.requirement == "KC-RT-003"
    assert evidence in finding.message
    assert validate_format("HTML", body, content_type) == ((finding,), ())


@pytest.mark.parametrize(("name", "body", "content_type", "shape"), TEXT_GOOD,
                         ids=[c[0] for c in TEXT_GOOD])
def test_text_good(name: str, body: bytes, content_type: str | None, shape: str) -> None:
    assert validate_text(body, content_type) == ()
    findings, observations = validate_format("TEXT", body, content_type)
    assert findings == ()
    assert observations == (finding("KC-RT-011", shape),)


@pytest.mark.parametrize(("name", "body", "content_type", "evidence"), TEXT_BAD,
                         ids=[c[0] for c in TEXT_BAD])
def test_text_bad(name: str, body: bytes, content_type: str | None, evidence: str) -> None:
    (finding,) = validate_text(body, content_type)
    assert finding.requirement == "KC-RT-004"
    assert evidence in finding.message
    assert validate_format("TEXT", body, content_type) == ((finding,), ())


@pytest.mark.parametrize(("fmt", "body"), [
    ("HTML", b"<p>Anruf gefunden \xfc</p>"), ("HTML", b"<html><body>\xe9t\xe9</body></html>"),
    ("TEXT", b"Anruf \xff"), ("TEXT", b"ERROR: Anruf nicht gefunden \xfc"),
])
def test_an_unlabelled_legacy_charset_is_seen_not_failed(fmt: str, body: bytes) -> None:
    """N17: no charset in the header or the body and bytes that are not UTF-8: the page names no
    encoding for HTML or TEXT, so the body is read in a legacy charset and that is observed."""
    verdict = validate_format(fmt, body, "text/plain" if fmt == "TEXT" else None)
    assert verdict.findings == ()
    assert ("KC-RT-007", "unlabelled legacy charset") in observed(verdict)
    labelled = validate_format(fmt, body, f"text/{fmt.lower()}; charset=utf-8")
    assert labelled.findings and "not utf-8" in labelled.findings[0].message


@pytest.mark.parametrize(("body", "foreign"), [
    (b"<result><code>0</code></result>", "result"),
    (b'<?xml version="1.0"?><result><p>x</p></result>', "result"),
    (b"<Response code=\"0\"><b>OK</b></Response>", "response"),
    (b"Call kept. <callid>1</callid><br/>", "callid"),
    (b"<table><tr><td>0</td></tr></table><status>kept</status>", "status"),
])
def test_html_fragment_with_elements_html_does_not_have_fails(body: bytes, foreign: str) -> None:
    """P9: one element named like an HTML tag no longer makes XML pass as HTML; a fragment is
    text and HTML elements only."""
    (found,) = validate_html(body, "text/html")
    assert found.requirement == "KC-RT-003" and foreign in found.message


@pytest.mark.parametrize("body", [
    b"<!DOCTYPE html><html><body><result>0</result></body></html>",
    b"<!-- generated --><html><body><main><data value=\"0\">kept</data></main></body></html>",
    b"<main><p>Call kept.</p></main><template></template>",
    b"Call kept.<!-- <result/> --><br/>",
])
def test_html_documents_and_html5_fragments_pass(body: bytes) -> None:
    """A document is HTML whatever it holds (a browser displays it); HTML5's own elements and
    names inside comments do not make a fragment foreign."""
    assert validate_html(body, "text/html") == ()


@pytest.mark.parametrize("body", [
    b'<VerbaApi><Response code="0" type="KeepCall"/><Data><Response/></Data></VerbaApi>',
    b'<VerbaApi><Data><Response kind="x"/></Data><Response code="0" type="KeepCall"/></VerbaApi>',
    b'<VerbaApi><Response code="0" type="KeepCall"><Calls><Response kind="x"/></Calls>'
    b"</Response></VerbaApi>",
    b'<VerbaApi><Response code="0" type="KeepCall"><Response>nested</Response></Response>'
    b"</VerbaApi>",
])
def test_payload_named_response_is_payload(body: bytes) -> None:
    """N12: "A schema must allow both and must not reject extra payload": a payload element
    named Response is the target's own, not the envelope's Response."""
    assert validate_xml(body, None).findings == ()
    assert lxml_schema().validate(etree.fromstring(body))


@pytest.mark.parametrize(("body", "failed"), [
    (b'<!DOCTYPE VerbaApi [<!ATTLIST Response type CDATA "KeepCall">]>'
     b'<VerbaApi><Response code="0"/></VerbaApi>', "KC-XML-003"),
    (b'<!DOCTYPE VerbaApi [<!ATTLIST Response code CDATA "0">]>'
     b'<VerbaApi><Response type="KeepCall"/></VerbaApi>', "KC-XML-002"),
    (b'<!DOCTYPE VerbaApi [<!ATTLIST ErrorMessage description CDATA "Error">]>'
     b'<VerbaApi><Response code="2" type="KeepCall"><ErrorMessage/></Response></VerbaApi>',
     "KC-XML-005"),
])
def test_dtd_attribute_defaults_are_not_read(body: bytes, failed: str) -> None:
    """P9: the document as sent; a default from an internal DTD subset is not an attribute a
    client that reads no DTD ever sees."""
    verdict = validate_xml(body, None)
    assert failed in {f.requirement for f in verdict.findings}
    assert verdict.code in (None, "0", "2") and (verdict.type is None or failed != "KC-XML-003")


def test_error_message_on_a_success_is_observed() -> None:
    """P9: the notes show ErrorMessage on errors and forbid it nowhere: seen, not failed."""
    verdict = validate_xml(b'<VerbaApi><Response code="0" type="KeepCall"><ErrorMessage>none'
                           b"</ErrorMessage></Response></VerbaApi>", None)
    assert verdict.findings == ()
    assert ("KC-XML-006", "ErrorMessage on success") in observed(verdict)
    assert ("KC-XML-006", "ErrorMessage on success") not in observed(
        validate_xml(VALID["error sample"].encode(), None))


def test_validate_format_judges_html_and_text_only() -> None:
    """One entry point, so a caller can test a body against each format it allows."""
    body = b"Call kept.<br/>"
    assert not validate_format("HTML", body, None).findings
    assert not validate_format("TEXT", body, None).findings  # text around markup is still text
    assert validate_format("TEXT", b"<html><body>x</body></html>", None).findings
    for fmt in ("XML", "JSON", "html"):
        with pytest.raises(ValueError, match="HTML or TEXT"):
            validate_format(fmt, body, None)


def test_observations_name_catalog_readings() -> None:
    """An observation's message is one of the readings its requirement lists."""
    verdicts: list[XmlVerdict | FormatVerdict] = [
        validate_xml(NO_TYPE_ERROR, None), validate_xml(DOCTYPE_DOCUMENT, None),
        validate_xml(VALID["success compact"].encode(), None),
        *(validate_format("HTML", c[1], c[2]) for c in HTML_GOOD),
        *(validate_format("TEXT", c[1], c[2]) for c in TEXT_GOOD),
    ]
    seen = {o for v in verdicts for o in v.observations}
    assert {o.requirement for o in seen} == {"KC-XML-006", "KC-XML-007", "KC-RT-011"}
    for observation in seen:
        assert observation.message in BY_ID[observation.requirement].readings, observation


@pytest.mark.parametrize(("body", "expected"), [
    (b"", "EMPTY"), (b"  \n", "EMPTY"),
    (VALID["success with declaration"].encode(), "XML"),
    (VALID["success compact"].encode(), "XML"),
    (b"<html><body>x</body></html>", "HTML"), (b"<!doctype html><p>x", "HTML"),
    (b"<p>x</p>", "HTML"), (b"<result/>", "XML"),
    (b'{"code": 0}', "JSON"), (b"[1, 2]", "JSON"), (b"{not json", "TEXT"),
    (b"Call kept.", "TEXT"),
    (b"Call kept.<br/>", "HTML"), (b"Call <b>cannot</b> be found.", "HTML"),
    (b"Call kept. a<b", "TEXT"), (b"status: 0 < 1", "TEXT"), (b"Result: <result/>", "TEXT"),
    (XHTML_STRICT, "HTML"), (b'<?xml version="1.0"?><result><p>x</p></result>', "XML"),
])
def test_sniff_format(body: bytes, expected: str) -> None:
    assert sniff_format(body) == expected


@pytest.mark.parametrize(("content_type", "expected"), [
    (None, "no Content-Type"),
    ("", "no Content-Type"),
    ("text/xml", "text/xml, no charset"),
    ('Text/XML; Charset="UTF-8"', "text/xml, charset UTF-8"),
])
def test_content_type_observation(content_type: str | None, expected: str) -> None:
    assert content_type_observation(content_type) == expected
