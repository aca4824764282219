"""Which collected items a run, or a part of it, runs: the suite's tests, the matrix slice of a
part, the tests outside the matrix dealt among the parts, and each test's requirement IDs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import pytest

from conformance.catalog.requirements import BY_ID
from conformance.domain.matrix import Case
from conformance.integration.settings import Shard

SUITE_PACKAGE = "conformance.suite"
PARALLEL = "parallel"  # the marker of a test outside the matrix that may share the target
REQUIREMENTS = "requirements"  # the report property naming a test's requirement IDs


def _in_suite(item: pytest.Item) -> bool:
    return getattr(getattr(item, "module", None), "__name__", "").startswith(SUITE_PACKAGE)


def _trace(item: pytest.Item) -> str | None:
    """Attach a suite test's requirement IDs to its report, or say why it has none. A matrix
    case is marked when it runs (``_mark``), from the expectation it is judged on."""
    if _case_of(item) is not None:
        return None
    ids = [i for mark in item.iter_markers("requirement") for i in mark.args]
    unknown = [i for i in ids if i not in BY_ID]
    if unknown:
        return f"{item.nodeid}: unknown requirement {unknown[0]}"
    if not ids:
        return f"{item.nodeid}: no requirement marker"
    item.user_properties.append((REQUIREMENTS, _joined(frozenset(ids))))
    return None


def _mark(item: pytest.Item, ids: Callable[[Case], Sequence[str]]) -> None:
    """Attach a matrix case's requirement IDs, ``ids(case)``, to its reports (junit.xml's
    ``requirements`` property, the log's column) once, before the first report that shows
    them is made; nothing for any other item or one already marked."""
    case = _case_of(item)
    if case is None or any(name == REQUIREMENTS for name, _ in item.user_properties):
        return
    item.user_properties.append((REQUIREMENTS, _joined(frozenset(ids(case)))))


@functools.lru_cache(maxsize=4096)
def _joined(ids: frozenset[str]) -> str:
    """The requirement IDs as a report shows them: one string for all the items that share
    them (a full run's 21,800 items have a few hundred sets; junit.xml's tree keeps them)."""
    return " ".join(sorted(ids))


def _dealt(parallel: Sequence[pytest.Item], count: int) -> dict[int, int]:
    """The parallel part (1 to count) each test marked ``parallel`` runs in: dealt in turn,
    from the last part back (the last part of a shard count of one takes them all)."""
    return {id(item): count - position % count for position, item in enumerate(parallel)}


def _ours(item: pytest.Item, shard: Shard, dealt: dict[int, int]) -> bool:
    """Whether this part runs ``item``, a test outside the matrix: a whole last shard runs
    them all; a parallel part the ones dealt to it (they never move the target's clock); the
    last shard's exclusive part the rest (the stateful search, time, tokens) and any search a
    parallel part deferred (one of its examples had to move the clock)."""
    if shard.part == "parallel":
        return dealt.get(id(item)) == shard.index
    return shard.index == shard.count and (shard.part == "all" or id(item) not in dealt)


def _matrix_slice(cases: Sequence[Case], shard: Shard, deferred: frozenset[str]
                  ) -> Sequence[Case]:
    """Shard I of N: every Nth matrix case from the Ith (the other tests are shard N's, see
    ``pytest_collection_modifyitems``). The parallel part is that slice alone; the exclusive
    part the other tests and the deferred cases (they move the clock, which others share).
    Cut here, before pytest makes an item of each: a part pays only for its own cases."""
    if shard.part == "exclusive":
        return [case for case in cases if case.id in deferred]
    return cases[shard.index - 1::shard.count]


def _empty_matrix(item: pytest.Item) -> bool:
    """The matrix test of a part with no matrix case (pytest's stand-in for an empty set)."""
    callspec = getattr(item, "callspec", None)
    return callspec is not None and "kc_case" in callspec.params and _matrix_case(item) is None


def _matrix_case(item: pytest.Item) -> str | None:
    """The matrix case id of ``item``, or None for any other test."""
    case = _case_of(item)
    return case.id if case is not None else None


def _case_of(item: pytest.Item | None) -> Case | None:
    """The matrix case of ``item``, or None for any other test (or no item)."""
    callspec = getattr(item, "callspec", None)
    case = callspec.params.get("kc_case") if callspec is not None else None
    return case if isinstance(case, Case) else None

