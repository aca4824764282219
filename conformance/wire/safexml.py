"""Untrusted XML parsed safely, and the shipped XSD: what costs nothing whatever a body holds.

The parser never loads a DTD, never resolves an entity and never touches the network, so entity
bombs and external entities cost nothing and fetch nothing; a document that cannot be read
without expanding an entity is a finding, a DOCTYPE alone an observation. The schemas are package
data, read through ``importlib.resources`` only; the XSD is built once, and a second model of it
(xmlschema's) explains an invalid document in words a reader can use.
"""

from __future__ import annotations

import importlib.resources
import re
import threading
from functools import cache
from importlib.resources.abc import Traversable
from typing import Any, Final

import xmlschema
from lxml import etree

from conformance.domain.model import Check
from conformance.wire.charsets import XML_DECL, is_utf8, near
from conformance.wire.findings import (
    DOCTYPE_DECLARED,
    DOCTYPE_SEEN,
    NO_DOCTYPE,
    XML_SCHEMA,
    XML_WELL_FORMED,
    finding,
    quote,
)

SCHEMA_PACKAGE: Final = "conformance.schemas"
SCHEMA_NAME: Final = "keepcall-response.xsd"
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)

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


def schema_file(name: str = SCHEMA_NAME) -> Traversable:
    """A file of the top-level ``schemas/``, shipped as the package data ``conformance.schemas``.

    Read only through the installed package, never by searching a source tree, so that a run
    always uses the schemas installed with the code that reads them (``pip install .`` and the
    editable install both map ``conformance.schemas`` to ``schemas/``)."""
    return importlib.resources.files(SCHEMA_PACKAGE) / name


@cache
def lxml_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.fromstring(schema_file().read_bytes(), _parser()))


@cache
def readable_schema() -> Any:
    """xmlschema's model of the XSD: slower, used only to explain why a document is invalid."""
    with schema_file().open("rb") as source:
        return xmlschema.XMLSchema(source)


def _encoding_findings(body: bytes) -> list[Check]:
    """The body's bytes and its XML declaration decide the encoding; the header does not."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return [finding(XML_WELL_FORMED,
                        f"body is not UTF-8 at byte {exc.start}: {near(body, exc)!r}")]
    declared = XML_DECL.match(body)
    if declared and not is_utf8(declared.group(1).decode("ascii", "replace")):
        label = declared.group(1).decode("ascii", "replace")
        return [finding(XML_WELL_FORMED, f"XML declaration names encoding {quote(label)}")]
    return []


def _entity_findings(root: etree._Element) -> list[Check]:
    """An entity reference the parser left unexpanded: what it stands for cannot be read.

    The parser expands none in content (no DTD is loaded, nothing is fetched), so a document that
    needs one expanded cannot be judged; guessing its text would be worse than saying so.
    """
    entity = next(root.iter(etree.Entity), None)
    if entity is None:
        return []
    return [finding(XML_WELL_FORMED,
                    f"entity reference {quote(str(entity.text))} left unexpanded "
                    "(the suite expands no entity)")]


def doctype_observation(root: etree._Element | None, body: bytes) -> list[Check]:
    """KC-XML-007: a DOCTYPE is well-formed XML, so it is reported, never loaded nor failed.

    Without a tree (the body did not parse) only a declared DOCTYPE is worth reporting.
    """
    if root is None:
        seen = _DOCTYPE.search(body[:4096]) is not None
        return [finding(DOCTYPE_SEEN, DOCTYPE_DECLARED)] if seen else []
    info = root.getroottree().docinfo
    declared = bool(info.doctype) or info.internalDTD is not None
    return [finding(DOCTYPE_SEEN, DOCTYPE_DECLARED if declared else NO_DOCTYPE)]


def parse_xml(body: bytes) -> tuple[etree._Element | None, list[Check]]:
    """Parse untrusted XML safely: no DTD, no entity expansion, no network, no huge trees.

    A DOCTYPE alone is no finding; a document that cannot be read without expanding an entity is.
    """
    if not body.strip():
        return None, [finding(XML_WELL_FORMED, "empty body")]
    findings = _encoding_findings(body)
    what = "not well-formed"
    if _DOCTYPE.search(body[:4096]):
        what = "not parsed (DOCTYPE present; the suite expands no entity)"
    try:
        root = etree.fromstring(body, _parser())
    except etree.XMLSyntaxError as exc:
        return None, [*findings, finding(XML_WELL_FORMED, f"{what}: {quote(str(exc))}")]
    except ValueError as exc:  # e.g. lxml refusing a body it cannot handle at all
        return None, [*findings, finding(XML_WELL_FORMED, f"not parseable: {quote(str(exc))}")]
    return root, findings + _entity_findings(root)


def schema_invalid(element: etree._Element, above: str) -> list[Check]:
    """``element`` against the XSD; ``above`` is the path to its parent, for the message."""
    schema = lxml_schema()
    try:
        valid = schema.validate(element)
    except etree.Error as exc:  # e.g. a tree holding unresolved entity references
        return [finding(XML_SCHEMA, f"cannot be validated: {quote(str(exc))}")]
    return [] if valid else [finding(XML_SCHEMA, _explain_invalid(element, schema, above))]


def _explain_invalid(root: etree._Element, schema: etree.XMLSchema, above: str) -> str:
    """xmlschema's reason and path when it has one, lxml's own log line otherwise."""
    try:
        error = next(iter(readable_schema().iter_errors(root)), None)
    except Exception as exc:  # xmlschema on a hostile tree must not break the verdict
        error, fallback = None, f"{type(exc).__name__}: {exc}"
    else:
        last = schema.error_log.last_error
        fallback = f"{last.path}: {last.message}" if last is not None else "invalid"
    if error is not None:
        line = f" (line {error.sourceline})" if error.sourceline else ""
        return f"schema-invalid at {above}{error.path}{line}: {quote(str(error.reason))}"
    return f"schema-invalid: {quote(fallback)}"


PRETTY_MAX_BYTES = 65536  # larger answers are shown as they came


def pretty_xml(body: bytes) -> str | None:
    """An XML answer indented for a reader (the safe parser: no entities, no network); None
    for a body that is not well-formed XML or too large to bother."""
    if len(body) > PRETTY_MAX_BYTES or not body.lstrip().startswith(b"<"):
        return None
    try:
        root = etree.fromstring(body, _parser())
    except (etree.XMLSyntaxError, ValueError):
        return None
    etree.indent(root, space="  ")
    return etree.tostring(root, encoding="unicode")
