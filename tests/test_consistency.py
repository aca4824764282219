"""One reading per open point across a run (KC-READ-001): what counts, what it keeps, merging."""

from __future__ import annotations

from conformance.domain.model import Choice, Reading, decisive
from conformance.judging.consistency import MAX_EXAMPLES, Readings

CALLID = Choice("KC-ID-004", "callID wins")
EXTENSION = Choice("KC-ID-004", "extension wins")
REJECTED = Choice("KC-ID-004", "rejected")


def _one(*choices: Choice) -> tuple[Reading, ...]:
    return (frozenset(choices),)


def test_only_an_answer_one_reading_explains_counts() -> None:
    """An error that 'rejected' and another reading both explain tells nothing of the point."""
    readings = Readings()
    readings.add((frozenset({REJECTED}), frozenset({EXTENSION})), "error-either-way")
    readings.add(_one(CALLID), "a")
    assert [c.verdict for c in readings.checks()] == ["pass"]
    readings.add(_one(EXTENSION), "b")
    [check] = readings.checks()
    assert check.verdict == "fail"
    assert "'callID wins' in 1 case (e.g. a)" in check.message
    assert "'extension wins' in 1 case (e.g. b)" in check.message
    assert "error-either-way" not in check.message


def test_aspects_of_one_requirement_are_apart() -> None:
    """KC-UNMARK-004's 'rejected' for unmark=0 and 'success' for a flag already set are two
    points: no disagreement; the same aspect read two ways is one."""
    zero, already = "zero", "already"
    readings = Readings()
    readings.add(_one(Choice("KC-UNMARK-004", "rejected", zero)), "a")
    readings.add(_one(Choice("KC-UNMARK-004", "success", already)), "b")
    assert {c.verdict for c in readings.checks()} == {"pass"}
    assert decisive(_one(Choice("KC-UNMARK-004", "rejected", zero),
                         Choice("KC-UNMARK-004", "success", already))) == {
        ("KC-UNMARK-004", zero): "rejected", ("KC-UNMARK-004", already): "success"}
    readings.add(_one(Choice("KC-UNMARK-004", "normal", zero)), "c")
    failed = [c for c in readings.checks() if c.verdict == "fail"]
    assert len(failed) == 1 and "KC-UNMARK-004 (zero)" in failed[0].message


def test_bounded_and_merged_like_one_run() -> None:
    """A count per reading and a few examples, however many cases; shards merge to one run."""
    parts = [Readings(), Readings()]
    for n in range(1000):
        parts[0].add(_one(CALLID), f"a-{n}")
    parts[1].add(_one(EXTENSION), "b-0")
    assert len(parts[0].seen[("KC-ID-004", "")]["callID wins"].examples) == MAX_EXAMPLES
    for part in parts:
        assert [c.verdict for c in part.checks()] == ["pass"]
    joined = Readings()
    for part in parts:
        joined.merge(part.state())
    [check] = joined.checks()
    assert check.verdict == "fail" and "'callID wins' in 1000 cases" in check.message


def test_nothing_decisive_is_not_tested() -> None:
    assert [c.verdict for c in Readings().checks()] == ["not-tested"]
