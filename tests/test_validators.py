"""Validators: table-driven envelopes, hostile XML that must cost nothing, HTML and TEXT tables."""

from __future__ import annotations

import resource

import pytest
import xmlschema
from hostile import (
    BILLION_LAUGHS,
    DOCTYPE_DOCUMENT,
    INVALID_UTF8,
    QUADRATIC_BLOWUP,
    recorder,
    xxe_document,
    xxe_parameter_document,
)
from lxml import etree

from conformance.requirements import BY_ID
from conformance.validators import (
    content_type_observation,
    lxml_schema,
    parse_xml,
    schema_path,
    sniff_format,
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
    ("charset header latin-1", VALID["success compact"].encode(), "text/xml; charset=iso-8859-1",
     "KC-XML-001"),
    ("DOCTYPE", DOCTYPE_DOCUMENT, UTF8, "KC-XML-001"),
    ("plain text", b"Call kept.", None, "KC-XML-001"),
    ("HTML page", b"<html><body>ok</body></html>", None, "KC-XML-002"),
    ("wrong root", b'<Api><Response code="0" type="KeepCall"/></Api>', None, "KC-XML-002"),
    ("ErrorMessage as root", b"<ErrorMessage>x</ErrorMessage>", None, "KC-XML-002"),
    ("namespaced root", b'<VerbaApi xmlns="urn:x"><Response code="0" type="KeepCall"/>'
     b"</VerbaApi>", None, "KC-XML-002"),
    ("no Response", b"<VerbaApi><Result/></VerbaApi>", None, "KC-XML-002"),
    ("Response not first", b'<VerbaApi><X/><Response code="0" type="KeepCall"/></VerbaApi>',
     None, "KC-XML-002"),
    ("two Responses", b'<VerbaApi><Response code="0" type="KeepCall"/><Response code="0" '
     b'type="KeepCall"/></VerbaApi>', None, "KC-XML-002"),
    ("code missing", b'<VerbaApi><Response type="KeepCall"/></VerbaApi>', None, "KC-XML-002"),
    ("code not an integer", b'<VerbaApi><Response code="ok" type="KeepCall"/></VerbaApi>', None,
     "KC-XML-002"),
    ("type empty", b'<VerbaApi><Response code="0" type=""/></VerbaApi>', None, "KC-XML-002"),
    ("text in Response", b'<VerbaApi><Response code="0" type="KeepCall">done</Response>'
     b"</VerbaApi>", None, "KC-XML-002"),
    ("element in ErrorMessage", b'<VerbaApi><Response code="2" type="KeepCall"><ErrorMessage>'
     b"<b>x</b></ErrorMessage></Response></VerbaApi>", None, "KC-XML-002"),
    ("type of another action", b'<VerbaApi><Response code="0" type="GetMarkers"/></VerbaApi>',
     None, "KC-XML-003"),
    ("type missing", b'<VerbaApi><Response code="0"/></VerbaApi>', None, "KC-XML-003"),
    ("type in other case", b'<VerbaApi><Response code="0" type="keepcall"/></VerbaApi>', None,
     "KC-XML-003"),
    ("error without ErrorMessage", b'<VerbaApi><Response code="2" type="KeepCall"/></VerbaApi>',
     None, "KC-XML-005"),
    ("error with empty ErrorMessage", b'<VerbaApi><Response code="2" type="KeepCall">'
     b"<ErrorMessage>  </ErrorMessage></Response></VerbaApi>", None, "KC-XML-005"),
    ("ErrorMessage only after Response", b'<VerbaApi><Response code="2" type="KeepCall"/>'
     b"<ErrorMessage>x</ErrorMessage></VerbaApi>", None, "KC-XML-005"),
]


def requirements_hit(body: bytes, content_type: str | None = None) -> set[str]:
    return {f.requirement for f in validate_xml(body, content_type).findings}


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


def test_schema_invalid_message_names_the_path() -> None:
    (finding,) = validate_xml(b'<VerbaApi><Response code="x" type="KeepCall"/></VerbaApi>',
                              None).findings
    assert "/VerbaApi/Response" in finding.message and "'x'" in finding.message


def test_schema_loads_in_both_validators() -> None:
    assert isinstance(lxml_schema(), etree.XMLSchema)
    schema = xmlschema.XMLSchema(str(schema_path()))
    for body in VALID.values():
        assert schema.is_valid(body.encode().lstrip(b"\xef\xbb\xbf"))


# --- hostile XML ------------------------------------------------------------------------------

def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("bomb", [BILLION_LAUGHS, QUADRATIC_BLOWUP], ids=["laughs", "quadratic"])
def test_entity_bombs_are_flagged_and_never_expanded(bomb: bytes) -> None:
    before = max_rss_mb()
    root, findings = parse_xml(bomb)
    grown = max_rss_mb() - before
    assert any("DOCTYPE" in f.message for f in findings)
    assert {f.requirement for f in findings} == {"KC-XML-001"}
    assert root is None or len("".join(root.itertext())) < 10_000
    assert grown < 200, f"parsing grew the process by {grown:.0f} MB"


@pytest.mark.parametrize("make", [xxe_document, xxe_parameter_document],
                         ids=["general-entity", "parameter-entity"])
def test_external_entities_fetch_nothing(make: object) -> None:
    assert callable(make)
    with recorder(b"root:x:0:0:stolen") as witness:
        for system_id in (f"{witness.url}/xxe", "file:///etc/passwd"):
            root, findings = parse_xml(make(system_id))
            text = "" if root is None else "".join(root.itertext())
            assert "root:" not in text and "stolen" not in text
            assert any("DOCTYPE" in f.message for f in findings)
    assert not witness.contacted, "the parser connected to the entity's URL"


@pytest.mark.parametrize("body", [
    BILLION_LAUGHS, QUADRATIC_BLOWUP, DOCTYPE_DOCUMENT, xxe_document("file:///etc/passwd"),
    xxe_parameter_document("file:///etc/passwd"), INVALID_UTF8, b"\x00" * 100, b"<" * 10_000,
    b"<a>" * 300 + b"</a>" * 300, b"\xef\xbb\xbf", b"<?xml version='1.0' encoding='x-bogus'?><a/>",
], ids=["laughs", "quadratic", "doctype", "xxe", "xxe-param", "bad-utf8", "nul", "lt",
        "deep", "bom", "bogus-encoding"])
def test_validate_xml_never_raises_on_hostile_documents(body: bytes) -> None:
    verdict = validate_xml(body, "text/xml")
    assert "KC-XML-001" in {f.requirement for f in verdict.findings}


# --- HTML, TEXT, sniffing -----------------------------------------------------------------------

HTML_GOOD: list[tuple[str, bytes, str | None]] = [
    ("full document", b"<!DOCTYPE html><html><head><title>KeepCall</title></head><body><table>"
     b"<tr><td>0</td></tr></table></body></html>", "text/html; charset=utf-8"),
    ("without head", b"<html><body>Call kept.</body></html>", None),
    ("fragment", b"<p>Call cannot be found.</p>", "text/html"),
    ("latin-1 declared", "<html><body>Anruf gefunden \u00fc</body></html>".encode("latin-1"),
     "text/html; charset=ISO-8859-1"),
    ("meta charset", b'<html><head><meta charset="windows-1252"></head><body>\x80</body></html>',
     None),
    ("xhtml with declaration", b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml">'
     b"<body>ok</body></html>", None),
]
HTML_BAD: list[tuple[str, bytes, str | None, str]] = [
    ("empty", b"", "text/html", "empty"),
    ("XML envelope", VALID["success with declaration"].encode(), "text/html", "XML envelope"),
    ("envelope without declaration", VALID["success compact"].encode(), None, "XML envelope"),
    ("plain text", b"Call kept.", "text/html", "plain text"),
    ("unknown markup", b"<result>ok</result>", None, "without any HTML element"),
    ("not the declared charset", "<html>\u00fc</html>".encode("latin-1"),
     "text/html; charset=utf-8", "not utf-8"),
    ("unknown charset", b"<html></html>", "text/html; charset=klingon", "unknown charset"),
]
TEXT_GOOD: list[tuple[str, bytes, str | None]] = [
    ("sentence", b"Call kept.", "text/plain"),
    ("code and message", b"code=2 Call cannot be found.\n", None),
    ("comparison sign inside", b"status: 0 < 1", None),
    ("latin-1 declared", "Anruf \u00fc".encode("latin-1"), "text/plain; charset=iso-8859-1"),
]
TEXT_BAD: list[tuple[str, bytes, str | None, str]] = [
    ("empty", b"", None, "empty"),
    ("XML envelope", VALID["success with declaration"].encode(), None, "got XML"),
    ("HTML", b"<html><body>ok</body></html>", None, "got HTML"),
    ("markup later", b"Result: <body>ok</body>", None, "got"),
    ("envelope later", b"ok <VerbaApi/>", None, "got"),
    ("invalid UTF-8", b"Anruf \xff", None, "not utf-8"),
]


@pytest.mark.parametrize(("name", "body", "content_type"), HTML_GOOD,
                         ids=[c[0] for c in HTML_GOOD])
def test_html_good(name: str, body: bytes, content_type: str | None) -> None:
    assert validate_html(body, content_type) == ()


@pytest.mark.parametrize(("name", "body", "content_type", "evidence"), HTML_BAD,
                         ids=[c[0] for c in HTML_BAD])
def test_html_bad(name: str, body: bytes, content_type: str | None, evidence: str) -> None:
    (finding,) = validate_html(body, content_type)
    assert finding.requirement == "KC-RT-003"
    assert evidence in finding.message


@pytest.mark.parametrize(("name", "body", "content_type"), TEXT_GOOD,
                         ids=[c[0] for c in TEXT_GOOD])
def test_text_good(name: str, body: bytes, content_type: str | None) -> None:
    assert validate_text(body, content_type) == ()


@pytest.mark.parametrize(("name", "body", "content_type", "evidence"), TEXT_BAD,
                         ids=[c[0] for c in TEXT_BAD])
def test_text_bad(name: str, body: bytes, content_type: str | None, evidence: str) -> None:
    (finding,) = validate_text(body, content_type)
    assert finding.requirement == "KC-RT-004"
    assert evidence in finding.message


@pytest.mark.parametrize(("body", "expected"), [
    (b"", "EMPTY"), (b"  \n", "EMPTY"),
    (VALID["success with declaration"].encode(), "XML"),
    (VALID["success compact"].encode(), "XML"),
    (b"<html><body>x</body></html>", "HTML"), (b"<!doctype html><p>x", "HTML"),
    (b"<p>x</p>", "HTML"), (b"<result/>", "XML"),
    (b'{"code": 0}', "JSON"), (b"[1, 2]", "JSON"), (b"{not json", "TEXT"),
    (b"Call kept.", "TEXT"),
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
