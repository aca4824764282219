"""docs/SEMANTICS.md says what the oracle and the catalog do.

The prose cannot be compared with code, but its facts can: the table of open points and their
readings is the catalog's, every open point the oracle asks at is named in the prose, every ID
the doc names exists, and every level the doc states is the catalog's.
"""

from __future__ import annotations

import re
from pathlib import Path

from conformance.catalog.requirements import BY_ID, CATALOG
from conformance.domain import open_points

DOC = Path(__file__).resolve().parents[1] / "docs" / "SEMANTICS.md"
TABLE = "## Open points and their readings"
_ROW = re.compile(r"^\| (KC-[A-Z]+-\d{3}) \| [^|]+ \| (.+) \|$", re.MULTILINE)
_READING = re.compile(r"`([^`]+)`")
_ID = re.compile(r"KC-[A-Z]+-\d{3}")
# "KC-TYPE-004, SHOULD" or "KC-HTTP-004 (SHOULD)": a level the doc states for one requirement.
_LEVEL = re.compile(r"(KC-[A-Z]+-\d{3})(?:, | \()(MUST|SHOULD|OBSERVE)\b")


def _sections() -> tuple[str, str]:
    """The readings table's section, and the rest of the doc."""
    text = DOC.read_text(encoding="utf-8")
    start = text.index(TABLE)
    end = text.index("\n## ", start + len(TABLE))
    return text[start:end], text[:start] + text[end:]


def _open_points() -> list[open_points.OpenPoint]:
    found = [v for v in vars(open_points).values() if isinstance(v, open_points.OpenPoint)]
    return found + list(open_points.NORMALIZED.values())


def test_the_readings_table_is_the_catalogs() -> None:
    table, _ = _sections()
    documented = {m[1]: tuple(_READING.findall(m[2])) for m in _ROW.finditer(table)}
    catalog = {r.id: r.readings for r in CATALOG if r.level == "OBSERVE"}
    assert documented == catalog, "docs/SEMANTICS.md's readings table is not the catalog's"


def test_every_reading_the_oracle_tries_is_in_the_table() -> None:
    table, _ = _sections()
    documented = {m[1]: set(_READING.findall(m[2])) for m in _ROW.finditer(table)}
    points = _open_points()
    assert len(points) > 20  # the oracle's points were found
    missing = [(p.key, o) for p in points for o in p.options
               if o not in documented.get(p.requirement, set())]
    assert missing == []


def test_every_open_point_of_the_oracle_is_described_in_the_prose() -> None:
    _, prose = _sections()
    named = set(_ID.findall(prose))
    assert sorted({p.requirement for p in _open_points()} - named) == []


def test_every_id_the_doc_names_is_in_the_catalog() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert sorted(set(_ID.findall(text)) - set(BY_ID)) == []


def test_every_level_the_doc_states_is_the_catalogs() -> None:
    text = DOC.read_text(encoding="utf-8")
    stated = {(m[1], m[2]) for m in _LEVEL.finditer(text)}
    assert stated, "the doc states no level at all: the pattern is stale"
    assert sorted((rid, level) for rid, level in stated if BY_ID[rid].level != level) == []


def test_a_stale_level_would_be_caught() -> None:
    """The pattern reads the doc's own wording: a level it misstates is found."""
    stale = [(m[1], m[2]) for m in _LEVEL.finditer("`type` unknown (KC-TYPE-004, MUST)")]
    assert stale == [("KC-TYPE-004", "MUST")] and BY_ID["KC-TYPE-004"].level != "MUST"
