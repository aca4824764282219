"""The stateful test's model: a change left pending that lands while another request is served
answers the earlier request (seed sweep, readings row 3, seed 11: a deferred keep applied as its
call started was judged as the answer to a ``next`` lookup on another number)."""

from __future__ import annotations

from conformance.domain.model import ERROR, PENDING, Expectation, Flags, Outcome
from conformance.suite.test_stateful import KeepCallMachine

DEFERRED, OTHER = "887aae6a", "5790db4f"
KEPT = Flags(kept=True)


def _machine() -> KeepCallMachine:
    machine = KeepCallMachine()
    machine.flags = {DEFERRED: Flags(), OTHER: Flags()}
    machine.pending = {(DEFERRED, "kept", True)}
    return machine


def _expecting(*outcomes: Outcome) -> Expectation:
    return Expectation({o: () for o in outcomes}, (), frozenset({"XML"}))


def test_a_pending_change_this_request_cannot_make_counts_as_before_it() -> None:
    after = {DEFERRED: KEPT, OTHER: Flags()}
    before = _machine()._landed_meanwhile(_expecting(ERROR, PENDING), after)
    assert before == after


def test_a_change_this_request_may_make_is_judged_as_its_answer() -> None:
    after = {DEFERRED: KEPT, OTHER: Flags()}
    keep = Outcome(DEFERRED, "kept", True)
    before = _machine()._landed_meanwhile(_expecting(ERROR, keep), after)
    assert before[DEFERRED] == Flags()


def test_only_pending_changes_are_moved_before_the_request() -> None:
    after = {DEFERRED: Flags(), OTHER: KEPT}
    before = _machine()._landed_meanwhile(_expecting(ERROR), after)
    assert before[OTHER] == Flags()
