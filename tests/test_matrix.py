"""The parameter matrix: sizes, the pairwise property of the quick subset, readable ids.

Counts (documented here, asserted below): lookup 4 idents x 8 statuses x 14 scenarios x 3 types
x 2 unmarks x 4 formats x 2 methods = 21,504; auth 3 keys x 3 tokens x 4 formats x 2 methods x
2 idents = 144; open-key 2 tokens x 4 formats x 2 methods = 16; values 45 spellings (11 of
them hostile: quotes, SQL, markup, paths, other scripts' digits) x 2 methods = 90; edges 72;
full matrix 21,826 cases. The quick subset is a few hundred.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import pytest

from conformance.catalog.spec import STATUS_VALUES
from conformance.domain.matrix import (
    CREDENTIALS,
    FORMATS,
    IDENTS,
    METHODS,
    SCENARIO_NAMES,
    STATUSES,
    TYPES,
    UNMARKS,
    Case,
    all_cases,
    part_counts,
)
from conformance.domain.scenarios import Numbering
from conformance.running.batch import case_requirements

QUICK = all_cases(quick=True)
FULL = all_cases(quick=False)

Dimension = tuple[str, Sequence[object], Callable[[Case], object]]
LOOKUP_DIMS: tuple[Dimension, ...] = (
    ("ident", IDENTS, lambda c: c.ident), ("status", STATUSES, lambda c: c.status),
    ("scenario", SCENARIO_NAMES, lambda c: c.scenario), ("type", TYPES, lambda c: c.type),
    ("unmark", UNMARKS, lambda c: c.unmark), ("rt", FORMATS, lambda c: c.response_type),
    ("method", METHODS, lambda c: c.method))
AUTH_DIMS: tuple[Dimension, ...] = (
    ("key", CREDENTIALS, lambda c: c.api_key), ("token", CREDENTIALS, lambda c: c.token),
    ("rt", FORMATS, lambda c: c.response_type), ("method", METHODS, lambda c: c.method),
    ("ident", ("callID", "extension"), lambda c: c.ident))


def _part(cases: Sequence[Case], part: str) -> list[Case]:
    return [c for c in cases if c.part == part]


@pytest.mark.parametrize(("part", "dims"), [("lookup", LOOKUP_DIMS), ("auth", AUTH_DIMS)])
def test_quick_covers_every_pair_of_values(part: str, dims: tuple[Dimension, ...]) -> None:
    """The pairwise property, checked directly rather than trusted to allpairspy."""
    cases = _part(QUICK, part)
    missing = []
    for (n1, v1, get1), (n2, v2, get2) in itertools.combinations(dims, 2):
        seen = {(get1(c), get2(c)) for c in cases}
        missing += [(n1, a, n2, b) for a in v1 for b in v2 if (a, b) not in seen]
    assert missing == []


def test_quick_has_the_full_extension_status_scenario_product() -> None:
    """Lookup faults live in status x scenario by extension: quick keeps all of it."""
    seen = {(c.status, c.scenario) for c in _part(QUICK, "lookup") if c.ident == "extension"}
    wanted = set(itertools.product(STATUS_VALUES, SCENARIO_NAMES))
    assert wanted - seen == set()


def test_full_lookup_is_the_whole_product_once() -> None:
    """Every combination of the lookup dimensions, each exactly once: a count alone would
    also pass a matrix with one combination twice and another left out."""
    seen = [tuple(get(c) for _, _, get in LOOKUP_DIMS) for c in _part(FULL, "lookup")]
    wanted = set(itertools.product(*(values for _, values, _ in LOOKUP_DIMS)))
    assert len(seen) == len(set(seen)) and set(seen) == wanted


def test_documented_counts() -> None:
    assert part_counts(FULL) == {"lookup": 21_504, "edges": 72, "auth": 144,
                                 "open-key": 16, "values": 90}
    assert len(FULL) == 21_826


def test_quick_is_a_few_hundred_and_a_subset() -> None:
    assert 100 <= len(QUICK) <= 400
    assert set(QUICK) <= set(FULL)


@pytest.mark.parametrize("cases", [QUICK, FULL], ids=["quick", "full"])
def test_ids_are_unique(cases: list[Case]) -> None:
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids))


def test_ids_are_readable() -> None:
    """Short, printable, no secrets or generated numbers: an id names the shape only."""
    for case in FULL:
        assert case.id.isprintable() and "\n" not in case.id and len(case.id) < 160, case.id
        assert case.id.startswith(case.part + "|" + case.ident + "|status=")
        assert "666666" not in case.id  # the long extension stays out of the id


# (ident, parameters the request must carry, parameters it must not)
IDENT_PARAMS: tuple[tuple[str, set[str], set[str]], ...] = (
    ("callID", {"callID"}, {"extension"}),
    ("extension", {"extension"}, {"callID"}),
    ("both", {"callID", "extension"}, set()),
    ("neither", set(), {"callID", "extension"}),
)


@pytest.mark.parametrize(("ident", "present", "absent"), IDENT_PARAMS)
def test_instantiate_names_the_scenario(ident: str, present: set[str],
                                        absent: set[str]) -> None:
    case = Case("lookup", ident, "ongoing", "ongoing-caller",  # type: ignore[arg-type]
                type="do_not_delete", unmark="1", response_type="HTML", method="POST")
    scenario, request = case.instantiate(Numbering(3))
    names = {k for k, _ in request.params}
    assert present <= names and not absent & names
    assert request.get("callID") in (None, scenario.call_id)
    assert request.get("extension") in (None, scenario.extension)
    assert (request.get("type"), request.get("unmark"), request.get("responseType"),
            request.method) == ("do_not_delete", "1", "HTML", "POST")
    assert all(c.flags.kept and c.flags.protected for c in scenario.calls)  # unmark: set first


def test_markers_and_verdicts_come_from_one_expectation() -> None:
    """An open-key case is judged with a key that needs no token; its marker says the same
    (it never names the token clauses a token-requiring key would decide)."""
    open_key = [c for c in all_cases(quick=False) if c.part == "open-key"]
    assert open_key
    for case in open_key:
        marked = set(case_requirements(case, True))
        assert not marked & {"KC-AUTH-003", "KC-AUTH-004"}, case.id


@pytest.mark.parametrize("param", ["callID", "extension"])
def test_hostile_values_reach_each_identifier_in_quick_too(param: str) -> None:
    """P0b: a quote, SQL, markup, a path and other scripts' digits in each identifier."""
    sent = {dict(case.instantiate(Numbering())[1].params).get(param, "")
            for case in QUICK if case.part == "values"}
    assert any("'" in v for v in sent) and any("<" in v and "&" in v for v in sent)
    assert any("../" in v for v in sent) and any(
        any(c.isdigit() and not c.isascii() for c in v) for v in sent)
