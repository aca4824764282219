"""Which charset a body is in, and its text: the one reading of Content-Type and of labels.

The header, a ``<meta>``, an XML declaration and the body's own bytes can each name a charset,
and each format weighs them differently; the labels are read here once, with Python's codec
names, so that "utf8", "UTF-8" and "unicode-1-1-utf-8" are one charset everywhere. What the page
does not say (a header charset, an unlabelled legacy page) is observed, never failed.
"""

from __future__ import annotations

import codecs
import re
from typing import Final

from conformance.catalog.requirements import RequirementId
from conformance.domain.model import Check
from conformance.wire.findings import CONTENT_TYPE_SEEN, UNLABELLED_LEGACY, finding, quote

# An XML declaration's encoding label, after an optional UTF-8 byte order mark.
XML_DECL: Final = re.compile(
    rb"""\A(?:\xef\xbb\xbf)?<\?xml[^>]*?\bencoding\s*=\s*["']([^"']*)["']""")
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)
# What an unlabelled page that is not UTF-8 is read as: latin-1 maps every byte (windows-1252,
# a browser's usual guess, leaves five undefined), and only the words matter here.
LEGACY_CHARSET: Final = "latin-1"


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


def near(body: bytes, exc: UnicodeDecodeError) -> bytes:
    """The bytes around where a body stops decoding, for the evidence."""
    return body[max(exc.start - 20, 0):exc.end + 20]


def content_type_observation(content_type: str | None) -> str:
    """A short description of a Content-Type for KC-RT-007 (observed, never judged)."""
    mtype, params = media_type(content_type)
    if mtype is None:
        return "no Content-Type"
    charset = params.get("charset")
    return f"{mtype}, charset {charset}" if charset else f"{mtype}, no charset"


def header_charset_observations(content_type: str | None) -> list[Check]:
    """A header charset other than UTF-8 is seen, not judged: the docs say nothing of headers."""
    charset = charset_of(content_type)
    if charset is None or is_utf8(charset):
        return []
    return [finding(CONTENT_TYPE_SEEN, content_type_observation(content_type))]


def html_charset(body: bytes, content_type: str | None) -> str | None:
    """Header, then a <meta> in the first 1024 bytes, then XHTML's XML declaration; None when
    nothing names one.

    HTML's own order, with the declaration an XHTML answer carries before the default: a charset
    the body names is a better guess than one it does not.
    """
    declared = charset_of(content_type)
    if declared:
        return declared
    meta = _META_CHARSET.search(body[:1024])
    if meta:
        return meta.group(1).decode("ascii")
    xml = XML_DECL.match(body)
    return xml.group(1).decode("ascii", "replace") if xml else None


def _decode(body: bytes, charset: str,
            requirement: RequirementId) -> tuple[str | None, list[Check]]:
    codec = _codec(charset)
    if codec is None:
        return None, [finding(requirement, f"unknown charset {quote(charset)}")]
    try:
        return body.decode(codec), []
    except UnicodeDecodeError as exc:
        return None, [finding(requirement,
                              f"not {charset} at byte {exc.start}: {near(body, exc)!r}")]


def read(body: bytes, charset: str | None,
         requirement: RequirementId) -> tuple[str | None, list[Check], list[Check]]:
    """Text, findings, observations. A declared charset must decode the body; without one UTF-8
    is tried, then a legacy charset, seen and not failed: the page names no encoding for HTML
    or TEXT, and an unlabelled page in the server's own code page displays in a browser."""
    if charset is not None:
        return (*_decode(body, charset, requirement), [])
    try:
        return body.decode("utf-8"), [], []
    except UnicodeDecodeError:
        return body.decode(LEGACY_CHARSET), [], [finding(CONTENT_TYPE_SEEN, UNLABELLED_LEGACY)]
