"""The requirement catalog: well-formed records, and every record traced to some test or check.

A requirement no test marks and no check records would be reported "not tested" forever; the
coverage test lists any such requirement by ID.
"""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
from conftest import Run

from conformance.catalog.requirements import (
    BY_ID,
    CATALOG,
    LEVELS,
    Requirement,
    RequirementId,
    gating,
    quotes,
    requirement,
)
from conformance.domain.matrix import all_cases
from conformance.integration.collection import _case_of
from conformance.integration.plugin import RUN
from conformance.running.batch import case_requirements

ID = re.compile(r"KC-[A-Z]+-\d{3}")
OBSERVE = [r.id for r in CATALOG if r.level == "OBSERVE"]


def test_ids_are_unique_and_well_formed() -> None:
    ids = [r.id for r in CATALOG]
    assert len(ids) == len(set(ids)) == len(BY_ID)
    assert [i for i in ids if not ID.fullmatch(i)] == []


def test_records_are_complete() -> None:
    """Level, title, clause and source are what a report shows: none may be empty."""
    for r in CATALOG:
        assert r.level in LEVELS and r.title and r.clause and r.source, r.id


def test_an_unknown_id_raises() -> None:
    """A typo in a requirement ID is a programming error, never a requirement of its own."""
    assert requirement("KC-XML-001").id == "KC-XML-001"
    with pytest.raises(KeyError):
        requirement("KC-XML-000")


def test_numbering_has_no_gaps_per_group() -> None:
    """KC-X-001, -002, ... so a missing number is a requirement lost in an edit."""
    groups: dict[str, list[int]] = {}
    for r in CATALOG:
        group, number = r.id.rsplit("-", 1)
        groups.setdefault(group, []).append(int(number))
    for group, numbers in groups.items():
        assert sorted(numbers) == list(range(1, len(numbers) + 1)), group


@pytest.mark.parametrize("rid", OBSERVE)
def test_every_observe_has_readings(rid: str) -> None:
    readings = BY_ID[rid].readings
    assert len(readings) >= 2 and len(set(readings)) == len(readings)


def test_only_observe_has_readings() -> None:
    assert [r.id for r in CATALOG if r.readings and r.level != "OBSERVE"] == []


@pytest.mark.parametrize(("level", "gated"), [("must", {"MUST"}), ("should", {"MUST", "SHOULD"})])
def test_gating_by_level(level: str, gated: set[str]) -> None:
    assert gating(level) == {r.id for r in CATALOG if r.level in gated}  # type: ignore[arg-type]


def _marked(pytester: pytest.Pytester) -> set[str]:
    """The requirement IDs on the markers of every collected conformance test (quick), with
    the embedded key declared as it is and undeclared (KC-AUTH-011 is met only then). A
    matrix case is marked as it runs: here, with what its marker will name before it runs."""
    marked: set[str] = set()
    for declared in ("yes", "unknown"):
        items, _ = pytester.inline_genitems("--pyargs", "conformance.suite", "--kc-quick",
                                            "--kc-token-required", declared, "-p", "no:randomly")
        assert items, "the suite collected nothing"
        marked |= {i for item in items for m in item.iter_markers("requirement") for i in m.args}
        marked |= {i for item in items if (case := _case_of(item)) is not None
                   for i in case_requirements(case, item.config.stash[RUN].settings.needs_token)}
    return marked


def test_every_gating_requirement_is_on_a_marker(pytester: pytest.Pytester) -> None:
    """MUST and SHOULD clauses must be named by a test, or a run can never fail them."""
    marked = _marked(pytester)
    missing = sorted(gating("should") - marked)
    assert missing == [], f"no test marks: {missing}"


def test_every_requirement_is_marked_or_checked(pytester: pytest.Pytester,
                                                quick_run: Run) -> None:
    """Markers, plus the checks a quick run recorded (OBSERVE ones are recorded as checks)."""
    checked = {r["id"] for r in quick_run.results["requirements"] if r["cases"]}
    missing = sorted(set(BY_ID) - _marked(pytester) - checked)
    assert missing == [], f"no test or check covers: {missing}"


def test_quick_matrix_markers_are_known() -> None:
    marked = {i for case in all_cases(quick=True) for token in (True, False, None)
              for i in case_requirements(case, token)}
    unknown = marked - set(BY_ID)
    assert unknown == set()


# --- every gating requirement quotes the spec exactly -----------------------------------------
SPEC_DIR = Path(__file__).resolve().parents[1] / "docs" / "spec"


def _squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="module")
def spec_text() -> str:
    """The page, the notes and the control protocol as published (docs/spec), whitespace aside."""
    return "".join(_squeezed(p.read_text(encoding="utf-8")) for p in sorted(SPEC_DIR.iterdir()))


@pytest.mark.parametrize("entry", [r for r in CATALOG if r.level != "OBSERVE"],
                         ids=lambda r: r.id)
def test_gating_requirement_quotes_the_spec_exactly(entry: Requirement, spec_text: str) -> None:
    for sentence in quotes(entry):
        assert _squeezed(sentence) in spec_text, f"{entry.id}: not in the spec: {sentence!r}"


def test_a_misquote_is_caught(spec_text: str) -> None:
    assert _squeezed("Tokens live 2 hours.") not in spec_text


def test_the_id_type_lists_exactly_the_catalog() -> None:
    """``RequirementId`` lets mypy check every ID the code names; it must be the catalog."""
    assert list(typing.get_args(RequirementId)) == [r.id for r in CATALOG]
