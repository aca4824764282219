"""The body checks as one door: what judging, running and reports import, wherever it lives.

A target's body is untrusted and judged only for its format; whether a request should have
succeeded is the oracle's business. Every finding names the requirement it breaks, and where the
page and the notes leave a choice open the reading seen is an observation instead. The work is
done beside this module, one idea each: ``findings`` (the vocabulary), ``charsets`` (labels and
decoding), ``safexml`` (the hardened parser and the XSD), ``envelope`` (the XML envelope read)
and ``formats`` (HTML, TEXT and sniffing).
"""

from __future__ import annotations

from conformance.wire.charsets import content_type_observation
from conformance.wire.envelope import XmlVerdict, code_is_zero, validate_xml
from conformance.wire.findings import (
    CONTENT_TYPE_SEEN,
    DOCTYPE_SEEN,
    ENVELOPE_SEEN,
    SHAPE_SEEN,
    finding,
)
from conformance.wire.formats import (
    FormatVerdict,
    is_envelope,
    sniff_format,
    validate_format,
    validate_html,
    validate_text,
)
from conformance.wire.safexml import (
    SCHEMA_PACKAGE,
    lxml_schema,
    parse_xml,
    pretty_xml,
    readable_schema,
    schema_file,
)

__all__ = [
    "CONTENT_TYPE_SEEN", "DOCTYPE_SEEN", "ENVELOPE_SEEN", "SCHEMA_PACKAGE", "SHAPE_SEEN",
    "FormatVerdict", "XmlVerdict", "code_is_zero", "content_type_observation", "finding",
    "is_envelope", "lxml_schema", "parse_xml", "pretty_xml", "readable_schema", "schema_file",
    "sniff_format", "validate_format", "validate_html", "validate_text", "validate_xml",
]
