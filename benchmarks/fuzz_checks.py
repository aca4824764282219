"""A Schemathesis check for KeepCall: an answer meant to be XML is well-formed XML.

Schemathesis validates JSON bodies against the schema but never parses XML, so without this a
broken envelope goes unnoticed. It is the one check a user of a generic fuzzer would add from the
API page alone, which keeps the comparison in compare_fuzzers.py fair. Loaded by Schemathesis:
    SCHEMATHESIS_HOOKS=benchmarks/fuzz_checks.py st run ... -c not_a_server_error,xml_well_formed
"""

from __future__ import annotations

import importlib
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from xml.etree import ElementTree

OTHER_FORMATS = frozenset({"HTML", "TEXT"})


def _response_types(request: Any) -> list[str]:
    """Every responseType the request sent, in the query string or a form body."""
    pairs = parse_qsl(urlsplit(request.url).query, keep_blank_values=True)
    body = request.body
    if isinstance(body, bytes | str) and "form" in request.headers.get("Content-Type", ""):
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        pairs += parse_qsl(text, keep_blank_values=True)
    return [value for name, value in pairs if name == "responseType"]


def xml_well_formed(ctx: Any, response: Any, case: Any) -> None:
    """XML by Content-Type, or by the request (no responseType, or none asking for another
    format), must parse; HTML and TEXT answers are left alone."""
    content_type = ",".join(response.headers.get("content-type", [])).lower()
    asked = {value.strip().upper() for value in _response_types(response.request)}
    if "xml" not in content_type and asked & OTHER_FORMATS:
        return
    try:
        ElementTree.fromstring(response.content)
    except ElementTree.ParseError as error:
        raise AssertionError(f"the answer is not well-formed XML ({error}); Content-Type "
                             f"{content_type or 'none'}, responseType {sorted(asked)}") from None


# Imported by name so that mypy, run where the optional `bench` extra is absent, needs no stubs.
importlib.import_module("schemathesis").check(xml_well_formed)
