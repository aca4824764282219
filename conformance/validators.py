"""Safe, bounded parsing of response bodies and the per-format checks (XML, HTML, TEXT).

A target's body is untrusted: the XML parser never loads a DTD, never resolves an entity and never
touches the network, so entity bombs and external entities cost nothing and fetch nothing. The
checks only judge the format; whether a request should have succeeded is the oracle's business.
Every finding names the requirement it breaks (conformance/requirements.py).
"""

from __future__ import annotations

import codecs
import importlib.resources
import json
import re
import threading
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Final, Literal

import lxml.html
import xmlschema
from lxml import etree
from lxml.html import defs as html_defs

from conformance.spec import SUCCESS_CODE, XML_ERROR_MESSAGE, XML_RESPONSE, XML_ROOT

XML_WELL_FORMED: Final = "KC-XML-001"
XML_SCHEMA: Final = "KC-XML-002"
XML_TYPE: Final = "KC-XML-003"
XML_ERROR: Final = "KC-XML-005"
HTML_FORMAT: Final = "KC-RT-003"
TEXT_FORMAT: Final = "KC-RT-004"

SCHEMA_NAME: Final = "keepcall-response.xsd"
EVIDENCE_CHARS: Final = 200
TOKEN_ELEMENT: Final = "Token"

Format = Literal["XML", "HTML", "TEXT", "JSON", "EMPTY"]


@dataclass(frozen=True)
class Finding:
    """One broken requirement, with a short message quoting at most ~200 chars of evidence."""

    requirement: str
    message: str


@dataclass(frozen=True)
class XmlVerdict:
    """What an XML body says (code, type, error message, token, payload) and what is wrong."""

    root: etree._Element | None = field(repr=False, compare=False)
    code: str | None
    type: str | None
    error_message: str | None
    token: str | None
    payload: tuple[str, ...]
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        return not self.findings


def quote(text: str, limit: int = EVIDENCE_CHARS) -> str:
    """Evidence for a message: repr-quoted, cut to ``limit`` characters."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


# --- the parser and the schemas: built once --------------------------------------------------

_local = threading.local()


def _parser() -> etree.XMLParser:
    """One hardened parser per thread (lxml parsers keep per-parse state)."""
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
            dtd_validation=False, remove_comments=False, remove_pis=False,
        )
        _local.parser = parser
    return parser


def schema_path() -> Path:
    """The shipped XSD; falls back to the source tree when the package is not installed."""
    try:
        resource = importlib.resources.files("conformance.schemas") / SCHEMA_NAME
        if resource.is_file():
            return Path(str(resource))
    except ModuleNotFoundError:
        pass
    return Path(__file__).resolve().parent.parent / "schemas" / SCHEMA_NAME


@cache
def lxml_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(schema_path()), _parser()))


@cache
def readable_schema() -> Any:
    """xmlschema's model of the XSD: slower, used only to explain why a document is invalid."""
    return xmlschema.XMLSchema(str(schema_path()))


# --- charsets -------------------------------------------------------------------------------

def media_type(content_type: str | None) -> tuple[str | None, dict[str, str]]:
    """Split a Content-Type header into its lower-case media type and parameters."""
    if not content_type:
        return None, {}
    head, *rest = content_type.split(";")
    params: dict[str, str] = {}
    for part in rest:
        name, sep, value = part.partition("=")
        if sep:
            params[name.strip().lower()] = value.strip().strip('"').strip()
    return head.strip().lower() or None, params


def charset_of(content_type: str | None) -> str | None:
    return media_type(content_type)[1].get("charset")


def _codec(name: str) -> str | None:
    """Python's canonical codec name for a charset label, or None when unknown."""
    try:
        return codecs.lookup(name).name
    except (LookupError, ValueError):
        return None


def is_utf8(label: str) -> bool:
    return _codec(label) == "utf-8"


# --- XML ------------------------------------------------------------------------------------

_XML_DECL = re.compile(rb"""\A(?:\xef\xbb\xbf)?<\?xml[^>]*?\bencoding\s*=\s*["']([^"']*)["']""")
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)


def _encoding_findings(body: bytes) -> list[Finding]:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = body[max(exc.start - 20, 0):exc.end + 20]
        return [Finding(XML_WELL_FORMED, f"body is not UTF-8 at byte {exc.start}: {bad!r}")]
    declared = _XML_DECL.match(body)
    if declared and not is_utf8(declared.group(1).decode("ascii", "replace")):
        label = declared.group(1).decode("ascii", "replace")
        return [Finding(XML_WELL_FORMED, f"XML declaration names encoding {quote(label)}")]
    return []


def _doctype_findings(root: etree._Element | None, body: bytes) -> list[Finding]:
    if root is not None:
        info = root.getroottree().docinfo
        present = bool(info.doctype) or info.internalDTD is not None
    else:
        present = _DOCTYPE.search(body[:4096]) is not None
    if not present:
        return []
    return [Finding(XML_WELL_FORMED, "document carries a DOCTYPE (no DTD allowed)")]


def parse_xml(body: bytes) -> tuple[etree._Element | None, list[Finding]]:
    """Parse untrusted XML safely: no DTD, no entity expansion, no network, no huge trees."""
    if not body.strip():
        return None, [Finding(XML_WELL_FORMED, "empty body")]
    findings = _encoding_findings(body)
    try:
        root: etree._Element | None = etree.fromstring(body, _parser())
    except etree.XMLSyntaxError as exc:
        root = None
        findings.append(Finding(XML_WELL_FORMED, f"not well-formed: {quote(str(exc))}"))
    except ValueError as exc:  # e.g. lxml refusing a body it cannot handle at all
        root = None
        findings.append(Finding(XML_WELL_FORMED, f"not parseable: {quote(str(exc))}"))
    return root, findings + _doctype_findings(root, body)


def _schema_findings(root: etree._Element) -> list[Finding]:
    findings: list[Finding] = []
    if root.tag != XML_ROOT:
        root_name = quote(str(root.tag))
        findings.append(Finding(XML_SCHEMA, f"root element is {root_name}, not {XML_ROOT}"))
    elif len(root.findall(XML_RESPONSE)) > 1:
        findings.append(Finding(XML_SCHEMA, f"more than one {XML_RESPONSE} element"))
    schema = lxml_schema()
    try:
        valid = schema.validate(root)
    except etree.Error as exc:  # e.g. a tree holding unresolved entity references
        return [*findings, Finding(XML_SCHEMA, f"cannot be validated: {quote(str(exc))}")]
    if not valid:
        findings.append(Finding(XML_SCHEMA, _explain_invalid(root, schema)))
    return findings


def _explain_invalid(root: etree._Element, schema: etree.XMLSchema) -> str:
    """xmlschema's reason and path when it has one, lxml's own log line otherwise."""
    try:
        error = next(iter(readable_schema().iter_errors(root)), None)
    except Exception as exc:  # xmlschema on a hostile tree must not break the verdict
        error, fallback = None, f"{type(exc).__name__}: {exc}"
    else:
        last = schema.error_log.last_error
        fallback = f"{last.path}: {last.message}" if last is not None else "invalid"
    if error is not None:
        return f"schema-invalid at {error.path}: {quote(str(error.reason))}"
    return f"schema-invalid: {quote(fallback)}"


def _text(element: etree._Element | None) -> str | None:
    return None if element is None else "".join(element.itertext())


def _children(element: etree._Element) -> list[etree._Element]:
    """Element children only: comments and processing instructions are no payload."""
    return [child for child in element if isinstance(child.tag, str)]


def _token(response: etree._Element, after: list[etree._Element]) -> str | None:
    """The token wherever a sample put it: an attribute, or an element inside or after Response.

    Names are matched without regard to case: the docs show ``token`` and ``Token``.
    """
    wanted = TOKEN_ELEMENT.lower()
    token = next((v for k, v in response.attrib.items() if str(k).lower() == wanted), None)
    if token is not None:
        return str(token).strip()
    candidates = [*_children(response), *after]
    element = next((e for e in candidates if str(e.tag).lower() == wanted), None)
    text = _text(element)
    return text.strip() if text is not None else None


def _is_zero(code: str | None) -> bool | None:
    """Whether an xs:integer code is zero; None when there is no usable code."""
    try:
        return None if code is None else int(code.strip()) == int(SUCCESS_CODE)
    except ValueError:
        return None


def _envelope_findings(
    response: etree._Element, expected_type: str, error_message: str | None
) -> list[Finding]:
    findings: list[Finding] = []
    actual = response.get("type")
    if actual != expected_type:
        shown = "missing" if actual is None else quote(actual)
        findings.append(Finding(XML_TYPE, f"Response/@type is {shown}, expected {expected_type}"))
    if _is_zero(response.get("code")) is False and not (error_message or "").strip():
        findings.append(Finding(
            XML_ERROR, f"code {quote(response.get('code') or '')} without a non-empty ErrorMessage"
        ))
    return findings


def validate_xml(
    body: bytes, content_type: str | None, expected_type: str = "KeepCall"
) -> XmlVerdict:
    """Judge an XML body: UTF-8 and well-formed, schema-valid, the right type, errors explained."""
    findings: list[Finding] = []
    charset = charset_of(content_type)
    if charset is not None and not is_utf8(charset):
        findings.append(Finding(XML_WELL_FORMED, f"Content-Type charset is {quote(charset)}"))
    root, parse_findings = parse_xml(body)
    findings += parse_findings
    if root is None:
        return XmlVerdict(None, None, None, None, None, (), tuple(findings))
    findings += _schema_findings(root)
    response = root.find(XML_RESPONSE) if root.tag == XML_ROOT else None
    if response is None:
        return XmlVerdict(root, None, None, None, None, (), tuple(findings))
    after = _children(root)[1:]
    error_message = _text(response.find(XML_ERROR_MESSAGE))
    findings += _envelope_findings(response, expected_type, error_message)
    payload = tuple(
        str(e.tag) for e in _children(response) + after if e.tag != XML_ERROR_MESSAGE
    )
    return XmlVerdict(
        root, response.get("code"), response.get("type"), error_message,
        _token(response, after), payload, tuple(findings),
    )


# --- HTML and TEXT --------------------------------------------------------------------------

_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)
_TAG = re.compile(r"<([A-Za-z][A-Za-z0-9]*)")
_ENVELOPE = re.compile(r"<\s*VerbaApi\b", re.I)
_FORBIDDEN_IN_TEXT = re.compile(r"<\s*(?:VerbaApi|html|body)\b", re.I)
HTML_TAGS: Final = frozenset(html_defs.tags)


def _decode(body: bytes, charset: str, requirement: str) -> tuple[str | None, list[Finding]]:
    codec = _codec(charset)
    if codec is None:
        return None, [Finding(requirement, f"unknown charset {quote(charset)}")]
    try:
        return body.decode(codec), []
    except UnicodeDecodeError as exc:
        bad = body[max(exc.start - 20, 0):exc.end + 20]
        return None, [Finding(requirement, f"not {charset} at byte {exc.start}: {bad!r}")]


def _html_charset(body: bytes, content_type: str | None) -> str:
    """Header first, then a <meta> in the first 1024 bytes, then UTF-8 (HTML's own order)."""
    declared = charset_of(content_type)
    if declared:
        return declared
    meta = _META_CHARSET.search(body[:1024])
    return meta.group(1).decode("ascii") if meta else "utf-8"


def _html_structure(text: str) -> list[Finding]:
    stripped = text.lstrip()
    has_html_tag = any(m.group(1).lower() in HTML_TAGS for m in _TAG.finditer(text))
    if _ENVELOPE.search(text) or (stripped.startswith("<?xml") and not has_html_tag):
        return [Finding(HTML_FORMAT, f"asked for HTML, got the XML envelope: {quote(stripped)}")]
    if not has_html_tag:
        what = "plain text" if "<" not in text else "markup without any HTML element"
        return [Finding(HTML_FORMAT, f"asked for HTML, got {what}: {quote(stripped)}")]
    try:
        lxml.html.document_fromstring(text)
    except (etree.ParserError, ValueError) as exc:
        return [Finding(HTML_FORMAT, f"HTML does not parse: {quote(str(exc))}")]
    return []


def validate_html(body: bytes, content_type: str | None) -> tuple[Finding, ...]:
    """An HTML document in its declared charset, and not the XML envelope nor plain text."""
    if not body.strip():
        return (Finding(HTML_FORMAT, "asked for HTML, got an empty body"),)
    text, findings = _decode(body, _html_charset(body, content_type), HTML_FORMAT)
    if text is None:
        return tuple(findings)
    return tuple(_html_structure(text))


def validate_text(body: bytes, content_type: str | None) -> tuple[Finding, ...]:
    """Plain text in its declared charset (UTF-8 by default) with no markup."""
    if not body.strip():
        return (Finding(TEXT_FORMAT, "asked for TEXT, got an empty body"),)
    text, findings = _decode(body, charset_of(content_type) or "utf-8", TEXT_FORMAT)
    if text is None:
        return tuple(findings)
    stripped = text.lstrip().lstrip("\ufeff")
    if stripped.startswith("<") or _FORBIDDEN_IN_TEXT.search(text):
        got = sniff_format(body)
        return (Finding(TEXT_FORMAT, f"asked for TEXT, got {got}: {quote(stripped)}"),)
    return ()


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
    """A best guess at what a body is, for evidence such as "asked for TEXT, got XML"."""
    text = body.decode("utf-8", "replace").lstrip().lstrip("\ufeff").lstrip()
    if not text:
        return "EMPTY"
    if _looks_like_json(text):
        return "JSON"
    if _ENVELOPE.search(text):
        return "XML"
    lowered = text[:1024].lower()
    if lowered.startswith("<!doctype html") or re.search(r"<\s*(html|body)\b", lowered):
        return "HTML"
    if text.startswith("<"):
        has_html = any(m.group(1).lower() in HTML_TAGS for m in _TAG.finditer(text[:4096]))
        return "HTML" if has_html and not text.startswith("<?xml") else "XML"
    return "TEXT"


def content_type_observation(content_type: str | None) -> str:
    """A short description of a Content-Type for KC-RT-007 (observed, never judged)."""
    mtype, params = media_type(content_type)
    if mtype is None:
        return "no Content-Type"
    charset = params.get("charset")
    return f"{mtype}, charset {charset}" if charset else f"{mtype}, no charset"
