"""What the body checks report: the requirements they judge, the readings they see, a finding.

One vocabulary for the XML, HTML and TEXT checks and for whoever reads their results (the batch
reads the OBSERVE IDs). A finding fails a requirement for what a sentence of the page or the
notes forbids; on an OBSERVE requirement it records the reading a target took instead. Every
piece of evidence a message quotes is redacted, then cut (``quote``).
"""

from __future__ import annotations

from typing import Final

from conformance.catalog.requirements import BY_ID, RequirementId
from conformance.domain.model import Cause, Check, Verdict
from conformance.wire.redact import SECRETS

XML_WELL_FORMED: Final = "KC-XML-001"
XML_SCHEMA: Final = "KC-XML-002"
XML_TYPE: Final = "KC-XML-003"
XML_ERROR: Final = "KC-XML-005"
HTML_FORMAT: Final = "KC-RT-003"
TEXT_FORMAT: Final = "KC-RT-004"
# OBSERVE requirements, and the readings the body checks report on them.
CONTENT_TYPE_SEEN: Final = "KC-RT-007"
SHAPE_SEEN: Final = "KC-RT-011"
ENVELOPE_SEEN: Final = "KC-XML-006"
DOCTYPE_SEEN: Final = "KC-XML-007"
ERROR_WITHOUT_TYPE: Final = "error without type"
MESSAGE_ON_SUCCESS: Final = "ErrorMessage on success"
NO_DOCTYPE: Final = "none"
DOCTYPE_DECLARED: Final = "DOCTYPE declared"
HTML_DOCUMENT: Final = "document"
XHTML: Final = "XHTML"
HTML_FRAGMENT: Final = "fragment"
EMPTY_TEXT: Final = "empty TEXT"
JSON_TEXT: Final = "JSON-like TEXT"
PLAIN_TEXT: Final = "plain TEXT"
UNLABELLED_LEGACY: Final = "unlabelled legacy charset"

EVIDENCE_CHARS: Final = 200


def finding(requirement: RequirementId, message: str, cause: Cause = Cause.DEFECT) -> Check:
    """What a body breaks, or on an OBSERVE requirement the reading it shows; the message
    quotes at most ~200 characters of evidence."""
    verdict: Verdict = "observed" if BY_ID[requirement].level == "OBSERVE" else "fail"
    return Check(requirement, verdict, message, cause)


def quote(text: str, limit: int = EVIDENCE_CHARS) -> str:
    """Evidence for a message: redacted, then cut to ``limit`` characters and repr-quoted (a
    target may quote what it was sent: a secret is never half shown on the cut)."""
    return repr(SECRETS.excerpt(text, limit))
