"""Safe, bounded parsing of response bodies and the per-format checks (XML, HTML, TEXT).

A target's body is untrusted: the XML parser never loads a DTD, never resolves an entity and never
touches the network, so entity bombs and external entities cost nothing and fetch nothing. The
checks only judge the format; whether a request should have succeeded is the oracle's business.
Every finding names the requirement it breaks (conformance/catalog/requirements.py).

Specificity first: a check fails a body only for what a sentence of the page or the notes forbids.
Where they leave a choice open (a DOCTYPE, the shape of an HTML or TEXT answer, an error without a
type, a charset in an undocumented header), the reading seen is returned as an observation: a
``Check`` on an OBSERVE requirement whose message is the reading.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Final, Literal, NamedTuple

import lxml.html
from lxml import etree
from lxml.html import defs as html_defs

from conformance.catalog.requirements import RequirementId
from conformance.catalog.spec import ACTION, SUCCESS_CODE, XML_ERROR_MESSAGE, XML_RESPONSE, XML_ROOT
from conformance.domain.model import Cause, Check
from conformance.wire.charsets import (
    charset_of,
    content_type_observation,
    header_charset_observations,
    html_charset,
    read,
)
from conformance.wire.findings import (
    CONTENT_TYPE_SEEN,
    DOCTYPE_SEEN,
    EMPTY_TEXT,
    ENVELOPE_SEEN,
    ERROR_WITHOUT_TYPE,
    HTML_DOCUMENT,
    HTML_FORMAT,
    HTML_FRAGMENT,
    JSON_TEXT,
    MESSAGE_ON_SUCCESS,
    PLAIN_TEXT,
    SHAPE_SEEN,
    TEXT_FORMAT,
    XHTML,
    XML_ERROR,
    XML_SCHEMA,
    XML_TYPE,
    finding,
    quote,
)
from conformance.wire.safexml import (
    SCHEMA_PACKAGE,
    doctype_observation,
    lxml_schema,
    parse_xml,
    pretty_xml,
    readable_schema,
    schema_file,
    schema_invalid,
)

# What callers outside the wire import from here, wherever it is defined.
__all__ = [
    "CONTENT_TYPE_SEEN", "DOCTYPE_SEEN", "ENVELOPE_SEEN", "SCHEMA_PACKAGE", "SHAPE_SEEN",
    "FormatVerdict", "XmlVerdict", "code_is_zero", "content_type_observation", "finding",
    "is_envelope", "lxml_schema", "parse_xml", "pretty_xml", "readable_schema", "schema_file",
    "sniff_format", "validate_format", "validate_html", "validate_text", "validate_xml",
]

TOKEN_ELEMENT: Final = "Token"

Format = Literal["XML", "HTML", "TEXT", "JSON", "EMPTY"]


@dataclass(frozen=True)
class XmlVerdict:
    """What an XML body says (code, type, error message, token, payload), what is wrong with it
    (``findings``) and which open readings it took (``observations``)."""

    root: etree._Element | None = field(repr=False, compare=False)
    code: str | None
    type: str | None
    error_message: str | None
    token: str | None
    payload: tuple[str, ...]
    findings: tuple[Check, ...]
    observations: tuple[Check, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.findings


class FormatVerdict(NamedTuple):
    """An HTML or TEXT body's findings and observations; unpacks as ``findings, observations``."""

    findings: tuple[Check, ...]
    observations: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return not self.findings


# --- codes ----------------------------------------------------------------------------------

# xs:integer's lexical space once whitespace is collapsed: an optional sign, then ASCII digits.
# int() alone would also take "1_0", other scripts' digits and non-XML whitespace.
_XS_INTEGER = re.compile(r"[ \t\r\n]*([+-]?[0-9]+)[ \t\r\n]*")


def code_is_zero(code: str | None) -> bool | None:
    """Whether a Response/@code is zero: "0", "+0", "-0", "00" and " 0 " all are.

    None when the code is missing or no xs:integer, so that nobody reads a success or an error
    into a code that says neither. The one parser of codes: every caller asks it.
    """
    match = None if code is None else _XS_INTEGER.fullmatch(code)
    return None if match is None else int(match.group(1)) == int(SUCCESS_CODE)


# --- XML ------------------------------------------------------------------------------------

def _schema_findings(root: etree._Element) -> list[Check]:
    """The XSD, plus what XSD 1.0 cannot say: the root, and exactly one Response child.

    The schema lets VerbaApi hold any elements in any order (payload before or after Response)
    and skips them all, so a payload element named Response is the target's own; the count of
    Response children is checked here, and each is validated against the schema as its own root.
    """
    findings: list[Check] = []
    responses = root.findall(XML_RESPONSE) if root.tag == XML_ROOT else []
    if root.tag != XML_ROOT:
        root_name = quote(str(root.tag))
        findings.append(finding(XML_SCHEMA, f"root element is {root_name}, not {XML_ROOT}"))
    elif len(responses) != 1:
        findings.append(finding(
            XML_SCHEMA, f"{XML_ROOT} has {len(responses)} {XML_RESPONSE} children, not exactly one"
        ))
    findings += schema_invalid(root, "")
    for response in responses:
        findings += schema_invalid(_as_sent(response), f"/{XML_ROOT}")
    return findings


def _as_sent(response: etree._Element) -> etree._Element:
    """A Response alone, for the schema: its attributes as sent (entities in them expanded, no
    DTD default added) and its line. Its content takes anything, so none is copied; a copy keeps
    the validation away from the document's DTD, which a detached element would lose anyway."""
    alone = etree.Element(XML_RESPONSE, dict(response.items()))
    alone.sourceline = response.sourceline  # type: ignore[misc]  # lxml sets it; stubs say no
    return alone


def sent(element: etree._Element, name: str) -> str | None:
    """An attribute as the document carries it. ``element.get`` also returns a default that an
    internal DTD subset declares (``<!ATTLIST Response code CDATA "0">``): a client that reads no
    DTD (most refuse one, for safety) never sees it, so the suite does not either."""
    return next((str(v) for k, v in element.items() if k == name), None)


def _text(element: etree._Element | None) -> str | None:
    return None if element is None else "".join(element.itertext())


def _children(element: etree._Element) -> list[etree._Element]:
    """Element children only: comments and processing instructions are no payload."""
    return [child for child in element if isinstance(child.tag, str)]


def _token(response: etree._Element, siblings: list[etree._Element]) -> str | None:
    """The token wherever a sample put it: an attribute, or an element inside or beside Response.

    Names are matched without regard to case: the docs show ``token`` and ``Token``.
    """
    wanted = TOKEN_ELEMENT.lower()
    token = next((v for k, v in response.attrib.items() if str(k).lower() == wanted), None)
    if token is not None:
        return str(token).strip()
    candidates = [*_children(response), *siblings]
    element = next((e for e in candidates if str(e.tag).lower() == wanted), None)
    text = _text(element)
    return text.strip() if text is not None else None


def _payload(root: etree._Element, response: etree._Element) -> tuple[str, ...]:
    """Element names in document order: before Response, inside it, after it (no ErrorMessage)."""
    names: list[str] = []
    for child in _children(root):
        inner = _children(child) if child is response else [child]
        names += [str(e.tag) for e in inner if e.tag != XML_ERROR_MESSAGE]
    return tuple(names)


def _type_readings(
    response: etree._Element, expected_type: str | None
) -> tuple[list[Check], list[Check]]:
    """KC-XML-003 findings and KC-XML-006 observations on Response/@type.

    With no expected type (the request named no known action) any type or none is right. A
    type that is present must be the action's name exactly. A missing type fails a success, or
    a code that says neither; on an error it is only observed: an error may come before any
    action is known (authentication, a bad action), when there is no action name to give.
    """
    actual = sent(response, "type")
    error = code_is_zero(sent(response, "code")) is False
    if not (actual or "").strip() and error:  # type="" says no more than no type
        return [], [finding(ENVELOPE_SEEN, ERROR_WITHOUT_TYPE)]
    if expected_type is None or actual == expected_type:
        return [], []
    shown = "missing" if actual is None else quote(actual)
    return [finding(XML_TYPE, f"Response/@type is {shown}, expected {expected_type}")], []


def _error_findings(response: etree._Element, error_message: str | None) -> list[Check]:
    """An error (non-zero code) explains itself in an ErrorMessage inside Response: its text,
    or the description attribute some versions add (``<ErrorMessage description="Error"/>``)."""
    code = sent(response, "code")
    element = response.find(XML_ERROR_MESSAGE)
    described = element is not None and (sent(element, "description") or "").strip()
    if code_is_zero(code) is not False or (error_message or "").strip() or described:
        return []
    return [finding(XML_ERROR, f"code {quote(code or '')} without a non-empty ErrorMessage")]


def _message_on_success(response: etree._Element) -> list[Check]:
    """KC-XML-006: an ErrorMessage under a success code. The notes show it on errors only and
    forbid it nowhere, so it is seen, not failed; the code still decides (0 is a success)."""
    success = code_is_zero(sent(response, "code")) is True
    present = response.find(XML_ERROR_MESSAGE) is not None
    return [finding(ENVELOPE_SEEN, MESSAGE_ON_SUCCESS)] if success and present else []


def validate_xml(
    body: bytes, content_type: str | None, expected_type: str | None = ACTION
) -> XmlVerdict:
    """Judge an XML body: UTF-8 and well-formed, schema-valid, the right type, errors explained.

    ``expected_type`` is the action the request named; None when it named none or an unknown
    one. The Content-Type header is only observed: the body's bytes and its XML declaration
    decide the encoding, since the docs say nothing about headers.
    """
    observations = header_charset_observations(content_type)
    root, findings = parse_xml(body)
    observations += doctype_observation(root, body)
    if root is None:
        return XmlVerdict(None, None, None, None, None, (), tuple(findings), tuple(observations))
    findings += _schema_findings(root)
    response = root.find(XML_RESPONSE) if root.tag == XML_ROOT else None
    if response is None:
        return XmlVerdict(root, None, None, None, None, (), tuple(findings), tuple(observations))
    error_message = _text(response.find(XML_ERROR_MESSAGE))
    type_findings, type_observations = _type_readings(response, expected_type)
    findings += type_findings + _error_findings(response, error_message)
    siblings = [e for e in _children(root) if e is not response]
    return XmlVerdict(
        root, sent(response, "code"), sent(response, "type"), error_message,
        _token(response, siblings), _payload(root, response), tuple(findings),
        tuple(observations + type_observations + _message_on_success(response)),
    )


# --- HTML and TEXT --------------------------------------------------------------------------

# A complete tag (start, end or self-closing): "a<b" in a sentence is no element.
_ELEMENT = re.compile(r"</?([A-Za-z][A-Za-z0-9]*)(?:\s[^<>]*)?/?>")
_ENVELOPE = re.compile(r"<\s*VerbaApi\b", re.I)
_FORBIDDEN_IN_TEXT = re.compile(r"<\s*(?:VerbaApi|html|body)\b", re.I)
_MARKUP_START = re.compile(r"<[A-Za-z!?/]")
_XML_DECL_TEXT = re.compile(r"\A<\?xml\b[^>]*\?>")
_HTML_DOCUMENT = re.compile(r"<!doctype\s+html|<\s*(?:html|body)\b", re.I)
# A document: <html> or an HTML DOCTYPE first, after an XML declaration and comments.
_DOCUMENT_START = re.compile(r"\A(?:<\?xml[^>]*\?>\s*)?(?:<!--.*?-->\s*)*"
                             r"(?:<!doctype\s+html\b|<html\b)", re.I | re.S)
_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
_XHTML_NAMESPACE = re.compile(r"""xmlns\s*=\s*["']http://www\.w3\.org/1999/xhtml["']""")
# HTML's elements (WHATWG, current and obsolete ones browsers still display) lxml's list lacks.
_MORE_HTML_TAGS: Final = frozenset({
    "bgsound", "data", "dialog", "frame", "image", "listing", "main", "menuitem", "multicol",
    "nextid", "nobr", "noembed", "noframes", "picture", "plaintext", "rb", "rtc", "search",
    "slot", "spacer", "template", "xmp",
})
HTML_TAGS: Final = frozenset(html_defs.tags) | _MORE_HTML_TAGS
def _element_names(text: str) -> list[str]:
    """The names of complete tags outside comments, lower-cased."""
    return [m.group(1).lower() for m in _ELEMENT.finditer(_COMMENT.sub("", text))]


def _has_html_element(text: str) -> bool:
    return any(name in HTML_TAGS for name in _element_names(text))


def _lstrip(text: str) -> str:
    """Leading whitespace and byte order marks off: neither is content."""
    return text.lstrip().lstrip("\ufeff").lstrip()


def _html_shape(text: str) -> str:
    """KC-RT-011: XHTML (XML declaration or namespace), a document, or a fragment."""
    if text.startswith("<?xml") or _XHTML_NAMESPACE.search(text[:4096]):
        return XHTML
    return HTML_DOCUMENT if _HTML_DOCUMENT.search(text[:4096]) else HTML_FRAGMENT


def _html_structure(text: str) -> FormatVerdict:
    """"Standard HTML ... directly displayed in any browser": a document (<html> or an HTML
    DOCTYPE first, XHTML included), or a fragment: text and elements that are all HTML's.

    Not the XML envelope, not text or markup without a single HTML element, not a fragment with
    elements HTML does not have (``<result><code>0</code></result>`` is XML that borrows a name).
    """
    stripped = _lstrip(text)
    names = _element_names(stripped)
    foreign = sorted({n for n in names if n not in HTML_TAGS})
    if _ENVELOPE.search(text):
        return _fail(HTML_FORMAT, f"asked for HTML, got the XML envelope: {quote(stripped)}")
    if len(foreign) == len(set(names)):
        what = "markup without any HTML element" if names else "plain text"
        what = "XML without any HTML element" if stripped.startswith("<?xml") else what
        return _fail(HTML_FORMAT, f"asked for HTML, got {what}: {quote(stripped)}")
    if foreign and not _DOCUMENT_START.match(stripped):
        return _fail(HTML_FORMAT, f"asked for HTML, got a fragment with elements HTML does not "
                     f"have ({', '.join(foreign[:5])}): {quote(stripped)}")
    try:  # lxml.html refuses a str that still declares its encoding
        lxml.html.document_fromstring(_XML_DECL_TEXT.sub("", stripped, count=1))
    except (etree.ParserError, ValueError) as exc:
        return _fail(HTML_FORMAT, f"HTML does not parse: {quote(str(exc))}")
    return FormatVerdict((), (finding(SHAPE_SEEN, _html_shape(stripped)),))


def _fail(requirement: RequirementId, message: str) -> FormatVerdict:
    """A body not in the format asked for."""
    return FormatVerdict((finding(requirement, message, Cause.WRONG_FORMAT),), ())


def _html_verdict(body: bytes, content_type: str | None) -> FormatVerdict:
    if not body.strip():
        return _fail(HTML_FORMAT, "asked for HTML, got an empty body")
    text, findings, seen = read(body, html_charset(body, content_type), HTML_FORMAT)
    if text is None:
        return FormatVerdict(tuple(findings), ())
    verdict = _html_structure(text)
    return verdict if verdict.findings else FormatVerdict((), (*verdict.observations, *seen))


def _text_verdict(body: bytes, content_type: str | None) -> FormatVerdict:
    """Text in its declared charset (UTF-8 by default), empty or JSON-like included.

    Nothing documents how TEXT tells success from failure, so an empty body or JSON is a shape
    to observe. Markup is refused: the envelope, an HTML document, a body that starts with a tag.
    """
    if not body.strip():
        return FormatVerdict((), (finding(SHAPE_SEEN, EMPTY_TEXT),))
    text, findings, seen = read(body, charset_of(content_type), TEXT_FORMAT)
    if text is None:
        return FormatVerdict(tuple(findings), ())
    stripped = _lstrip(text)
    json_like = _looks_like_json(stripped)
    if not json_like and (_MARKUP_START.match(stripped) or _FORBIDDEN_IN_TEXT.search(text)):
        got = sniff_format(body)
        return _fail(TEXT_FORMAT, f"asked for TEXT, got {got}: {quote(stripped)}")
    shape = EMPTY_TEXT if not stripped else JSON_TEXT if json_like else PLAIN_TEXT
    return FormatVerdict((), (finding(SHAPE_SEEN, shape), *seen))


_FORMAT_CHECKS: Final = {"HTML": _html_verdict, "TEXT": _text_verdict}


def validate_format(fmt: str, body: bytes, content_type: str | None) -> FormatVerdict:
    """Judge a body as ``fmt`` ("HTML" or "TEXT"): ``(findings, observations)``.

    A caller whose expectation allows several formats tests the body against each of them,
    rather than trusting a sniffed guess. XML has validate_xml (it needs the expected type).
    """
    check = _FORMAT_CHECKS.get(fmt)
    if check is None:
        raise ValueError(f"validate_format judges HTML or TEXT, not {fmt!r}")
    return check(body, content_type)


def validate_html(body: bytes, content_type: str | None) -> tuple[Check, ...]:
    """The findings of validate_format("HTML", ...), for callers that want no observations."""
    return _html_verdict(body, content_type).findings


def validate_text(body: bytes, content_type: str | None) -> tuple[Check, ...]:
    """The findings of validate_format("TEXT", ...), for callers that want no observations."""
    return _text_verdict(body, content_type).findings


# --- sniffing and observations --------------------------------------------------------------

def _looks_like_json(text: str) -> bool:
    if not text.startswith(("{", "[")):
        return False
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


def sniff_format(body: bytes) -> Format:
    """A best guess at what a body is, for evidence such as "asked for TEXT, got XML".

    Evidence only: whether a body is acceptable is validate_format's and validate_xml's call.
    Text with an HTML element in it ("Call kept.<br/>") is an HTML fragment.
    """
    text = _lstrip(body.decode("utf-8", "replace"))
    if not text:
        return "EMPTY"
    if _looks_like_json(text):
        return "JSON"
    if _ENVELOPE.search(text):
        return "XML"
    if _HTML_DOCUMENT.search(text[:1024]):
        return "HTML"
    has_html = _has_html_element(text[:4096])
    if text.startswith("<"):
        return "HTML" if has_html and not text.startswith("<?xml") else "XML"
    return "HTML" if has_html else "TEXT"


def is_envelope(body: bytes) -> bool:
    """Whether a body is (or tries to be) the API's XML envelope: what a front end's own page
    or another XML document (a WADL to OPTIONS) never is."""
    return _ENVELOPE.search(body.decode("utf-8", "replace")) is not None
