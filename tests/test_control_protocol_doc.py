"""docs/CONTROL-PROTOCOL.md is the protocol a vendor implements: it keeps every sentence the
catalog quotes from it, its examples validate against the shipped schemas, and it links each
schema. Runs in a bare clone (the upstream text beside a checkout is not needed)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conformance.catalog.requirements import CATALOG, CONTROL, Requirement, quotes
from conformance.wire.control import CALLS_SCHEMA, FLAGS_SCHEMA, MANY_FLAGS_SCHEMA, violation

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "CONTROL-PROTOCOL.md"


def _squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.mark.parametrize("entry", [r for r in CATALOG if r.source == CONTROL],
                         ids=lambda r: r.id)
def test_the_page_keeps_the_quoted_sentences(entry: Requirement) -> None:
    """A requirement sourced here rests on at least one sentence of this page (others of its
    quotes may come from the KeepCall page)."""
    page = _squeezed(PAGE.read_text(encoding="utf-8"))
    assert any(_squeezed(sentence) in page for sentence in quotes(entry)), entry.clause


def _schema_of(block: dict[str, object]) -> str:
    """The body an example shows: calls to set up, one call's flags, or many calls' flags."""
    calls = block.get("calls")
    if isinstance(calls, list) and calls and "state" not in calls[0]:
        return MANY_FLAGS_SCHEMA
    return CALLS_SCHEMA if "calls" in block else FLAGS_SCHEMA


def test_the_examples_validate() -> None:
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", PAGE.read_text(), re.S)]
    schemas = [_schema_of(block) for block in blocks]
    assert sorted(set(schemas)) == sorted({CALLS_SCHEMA, FLAGS_SCHEMA, MANY_FLAGS_SCHEMA})
    assert [violation(s, b) for s, b in zip(schemas, blocks, strict=True)] == [None] * len(blocks)


def test_the_page_links_every_schema() -> None:
    page = PAGE.read_text(encoding="utf-8")
    for schema in (ROOT / "schemas").glob("control-*.schema.json"):
        assert f"(../schemas/{schema.name})" in page, schema.name
