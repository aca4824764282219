"""The API's XML envelope read: what a body says (code, type, message, token) and what it breaks.

Above the safe parser: the envelope's facts the XSD cannot state (one Response, the type the
action names, an error that explains itself), the attributes as a client that reads no DTD sees
them, and the one parser of codes every caller asks. Whether the request should have succeeded
is the oracle's business; an open choice the notes leave (an error without a type, an
ErrorMessage on a success) is observed, never failed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from lxml import etree

from conformance.catalog.spec import ACTION, SUCCESS_CODE, XML_ERROR_MESSAGE, XML_RESPONSE, XML_ROOT
from conformance.domain.model import Check
from conformance.wire.charsets import header_charset_observations
from conformance.wire.findings import (
    ENVELOPE_SEEN,
    ERROR_WITHOUT_TYPE,
    MESSAGE_ON_SUCCESS,
    XML_ERROR,
    XML_SCHEMA,
    XML_TYPE,
    finding,
    quote,
)
from conformance.wire.safexml import doctype_observation, parse_xml, schema_invalid

TOKEN_ELEMENT: Final = "Token"


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
