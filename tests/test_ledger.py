"""Ledger verdict rules: fail beats pass, skipped is never pass, OBSERVE never gates."""

from __future__ import annotations

import pytest

from conformance.catalog.requirements import Gate, RequirementId, gating
from conformance.domain.model import Check, Verdict
from conformance.judging.ledger import MAX_EVIDENCE, Ledger

MUST: RequirementId = "KC-ID-001"
SHOULD: RequirementId = "KC-TYPE-004"
OBSERVE: RequirementId = "KC-PARAM-001"
OTHER_MUST: RequirementId = "KC-AUTH-008"


def all_gating_passed(*skip: RequirementId) -> Ledger:
    """A ledger where every MUST and SHOULD requirement passed, except ``skip`` (untouched)."""
    ledger = Ledger()
    ledger.record("all", [Check(r, "pass") for r in sorted(gating("should")) if r not in skip])
    return ledger

# (requirement, verdicts recorded in successive cases, the requirement's verdict)
RULES: tuple[tuple[RequirementId, tuple[Verdict, ...], str], ...] = (
    (MUST, (), "not-tested"),
    (MUST, ("pass",), "pass"),
    (MUST, ("pass", "fail", "pass"), "fail"),
    (MUST, ("fail", "pass"), "fail"),
    (MUST, ("not-tested",), "not-tested"),
    (MUST, ("not-tested", "not-tested"), "not-tested"),
    (MUST, ("not-tested", "pass"), "pass"),
    (OBSERVE, (), "not-tested"),
    (OBSERVE, ("not-tested",), "not-tested"),
    (OBSERVE, ("observed",), "observed"),
    (OBSERVE, ("fail", "observed"), "observed"),
    (OBSERVE, ("pass",), "not-tested"),
)


@pytest.mark.parametrize(("rid", "recorded", "verdict"), RULES)
def test_requirement_verdicts(rid: RequirementId, recorded: tuple[Verdict, ...],
                              verdict: str) -> None:
    ledger = Ledger()
    for i, v in enumerate(recorded):
        ledger.record(f"case-{i}", [Check(rid, v, "ignored" if v == "observed" else "")])
    assert ledger.entries[rid].verdict == verdict


def test_observations_are_counted_by_reading() -> None:
    ledger = Ledger()
    for case, reading in (("a", "rejected"), ("b", "rejected"), ("c", "ignored")):
        ledger.record(case, [Check(OBSERVE, "observed", reading)])
    assert ledger.entries[OBSERVE].to_json()["observations"] == {"rejected": 2, "ignored": 1}


# (requirement failed, gating level, run verdict)
GATING: tuple[tuple[RequirementId | None, Gate, str], ...] = (
    (None, "must", "conformant"),
    (MUST, "must", "not-conformant"),
    (SHOULD, "must", "conformant"),
    (SHOULD, "should", "not-conformant"),
    (OBSERVE, "should", "conformant"),
)


@pytest.mark.parametrize(("failed", "level", "verdict"), GATING)
def test_run_verdict_by_level(failed: RequirementId | None, level: Gate, verdict: str) -> None:
    ledger = all_gating_passed()
    if failed:
        ledger.record("bad", [Check(failed, "fail", "why")])
    assert ledger.verdict(level) == verdict


@pytest.mark.parametrize("spoil", ["aborted", "internal"])
def test_aborted_or_internal_errors_are_inconclusive(spoil: str) -> None:
    """Even an all-pass ledger (or a failing one) cannot stand when the run broke."""
    for failing in (False, True):
        ledger = Ledger()
        ledger.record("ok", [Check(MUST, "pass")])
        if failing:
            ledger.record("bad", [Check(MUST, "fail")])
        if spoil == "aborted":
            ledger.aborted = "target unreachable"
        else:
            ledger.internal_errors.append("suite/test_x.py::t: KeyError")
        assert ledger.verdict("must") == ledger.verdict("should") == "inconclusive"


# (requirement left untested, gating level, allow_untested, run verdict)
PARTIAL: tuple[tuple[RequirementId, Gate, bool, str], ...] = (
    (OTHER_MUST, "must", False, "partial"),
    (OTHER_MUST, "should", False, "partial"),
    (OTHER_MUST, "must", True, "conformant"),
    (SHOULD, "must", False, "conformant"),  # SHOULD does not gate at level must
    (SHOULD, "should", False, "partial"),
    (SHOULD, "should", True, "conformant"),
    (OBSERVE, "should", False, "conformant"),  # OBSERVE never gates
)


@pytest.mark.parametrize(("untested", "level", "allow", "verdict"), PARTIAL)
def test_an_untested_gating_requirement_makes_the_run_partial(
        untested: RequirementId, level: Gate, allow: bool, verdict: str) -> None:
    """A certificate rests on every gating requirement; --allow-untested on those tested."""
    ledger = all_gating_passed(untested)
    ledger.not_tested("no-control", [untested], "no control URL")
    assert ledger.verdict(level, allow_untested=allow) == verdict


def test_a_requirement_no_case_reached_is_a_gap_too() -> None:
    """Not only an explicit not-tested: a gating requirement with no case at all counts."""
    ledger = all_gating_passed(OTHER_MUST)
    assert ledger.untested_gating("must") == [OTHER_MUST]
    assert ledger.verdict("must") == "partial"
    assert all_gating_passed().verdict("should") == "conformant"


@pytest.mark.parametrize("allow", [False, True])
def test_a_failure_beats_a_gap(allow: bool) -> None:
    ledger = all_gating_passed(OTHER_MUST)
    ledger.record("bad", [Check(MUST, "fail", "why")])
    assert ledger.verdict("must", allow_untested=allow) == "not-conformant"


@pytest.mark.parametrize("allow", [False, True])
def test_nothing_judged_or_a_broken_run_stays_inconclusive(allow: bool) -> None:
    """Partial needs at least one judged gating requirement and an intact run."""
    empty = Ledger()
    empty.not_tested("no-login", [MUST, OTHER_MUST], "no login")
    assert empty.verdict("must", allow_untested=allow) == "inconclusive"
    broken = all_gating_passed(OTHER_MUST)
    broken.internal_errors.append("suite/test_x.py::t: KeyError")
    assert broken.verdict("must", allow_untested=allow) == "inconclusive"
    aborted = all_gating_passed(OTHER_MUST)
    aborted.aborted = "circuit breaker"
    assert aborted.verdict("must", allow_untested=allow) == "inconclusive"


def test_untested_gating_and_counts() -> None:
    ledger = Ledger()
    ledger.record("a", [Check(MUST, "pass"), Check(OBSERVE, "observed", "ignored")])
    ledger.not_tested("b", [SHOULD], "no control URL")
    assert MUST not in ledger.untested_gating("should")
    assert SHOULD in ledger.untested_gating("should")
    assert SHOULD not in ledger.untested_gating("must")
    assert OBSERVE not in ledger.untested_gating("should")
    counts = ledger.counts()
    assert counts["pass"] == 1 and counts["observed"] == 1
    assert sum(counts.values()) == len(ledger.entries)
    assert ledger.cases_run == 2


def test_evidence_is_kept_for_failures_only_and_bounded() -> None:
    ledger = Ledger()
    for i in range(MAX_EVIDENCE + 3):
        ledger.record(f"case-{i}", [Check(MUST, "fail", f"why {i}"), Check(SHOULD, "pass")],
                      curl=f"curl {i}")
    entry = ledger.entries[MUST].to_json()
    assert entry["failed"] == entry["cases"] == MAX_EVIDENCE + 3
    assert len(entry["evidence"]) == MAX_EVIDENCE  # type: ignore[arg-type]
    assert entry["evidence"][0] == {"case": "case-0", "message": "why 0",  # type: ignore
                                    "curl": "curl 0", "answer": None}
    assert ledger.entries[SHOULD].to_json()["evidence"] == []


def test_not_tested_does_not_count_where_a_case_passed() -> None:
    ledger = Ledger()
    ledger.record("a", [Check(MUST, "pass"), Check(MUST, "not-tested", "half")])
    ledger.record("b", [Check(MUST, "not-tested", "no flags")])
    assert ledger.entries[MUST].to_json()["not_tested"] == 1


def test_a_run_cut_short_is_never_conformant_but_its_failures_stand() -> None:
    ledger = all_gating_passed()
    ledger.cut_short = "--max-duration 1 s reached after 3 of 9 cases"
    assert ledger.verdict("must") == "inconclusive"
    assert ledger.verdict("must", allow_untested=True) == "inconclusive"
    ledger.record("late", [Check(OTHER_MUST, "fail", "wrong")])
    assert ledger.verdict("must") == "not-conformant"


def test_counts_stay_exact_and_alike_cases_share_their_tally() -> None:
    """Cases are counted once per requirement however often they are recorded; the untested
    exclude the passed; cases with the same checks hold one tally between them (a full run has
    21,800 cases and a few thousand kinds of tally: the memory of a run)."""
    ledger = Ledger()
    for case in ("a", "b", "c"):
        ledger.record(case, [Check(MUST, "pass"), Check(OTHER_MUST, "not-tested", "why")])
    ledger.record("a", [Check(MUST, "fail", "no")], counted=False)
    ledger.record("c", [Check(OTHER_MUST, "pass")], counted=False)
    must, other = (ledger.entries[r].to_json() for r in (MUST, OTHER_MUST))
    assert (must["cases"], must["failed"], must["verdict"]) == (3, 1, "fail")
    assert (other["cases"], other["not_tested"], other["verdict"]) == (3, 2, "pass")
    assert ledger.tallies["b"] is not ledger.tallies["a"]
    assert ledger.tallies["b"] == ((("KC-ID-001", "pass", ""), 1),
                                   (("KC-AUTH-008", "not-tested", ""), 1))
    again = Ledger()
    again.record("d", [Check(MUST, "pass"), Check(OTHER_MUST, "not-tested", "other words")])
    again.record("e", [Check(MUST, "pass"), Check(OTHER_MUST, "not-tested", "why")])
    assert again.tallies["d"] is again.tallies["e"]
    assert again.state()["cases"]["d"] == [["KC-ID-001", "pass", "", 1],
                                           ["KC-AUTH-008", "not-tested", "", 1]]
