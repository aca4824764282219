"""Whether a body is the HTML or TEXT asked for, and what a body looks like (for evidence).

The page says HTML must display in any browser and TEXT is text: neither is the XML envelope.
Everything else about their shape (a document or a fragment, XHTML, empty or JSON-like text) is
left to the target, so it is observed. A body is judged against each format an expectation
allows, never against a sniffed guess; ``sniff_format`` only names what came for a message.
"""

from __future__ import annotations

import json
import re
from typing import Final, Literal, NamedTuple

import lxml.html
from lxml import etree
from lxml.html import defs as html_defs

from conformance.catalog.requirements import RequirementId
from conformance.domain.model import Cause, Check
from conformance.wire.charsets import charset_of, html_charset, read
from conformance.wire.findings import (
    EMPTY_TEXT,
    HTML_DOCUMENT,
    HTML_FORMAT,
    HTML_FRAGMENT,
    JSON_TEXT,
    PLAIN_TEXT,
    SHAPE_SEEN,
    TEXT_FORMAT,
    XHTML,
    finding,
    quote,
)

Format = Literal["XML", "HTML", "TEXT", "JSON", "EMPTY"]


class FormatVerdict(NamedTuple):
    """An HTML or TEXT body's findings and observations; unpacks as ``findings, observations``."""

    findings: tuple[Check, ...]
    observations: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return not self.findings


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
