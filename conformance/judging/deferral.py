"""A change that may wait for a call's start: the flags of a case judged once, on all its reads.

A target may apply a change on an upcoming call only when the call starts (KC-TYPE-007), and a
pending keep may land on a call set up after the request, never on one that stood outside the
lookup. Where the first read of the flags leaves either open (``waits``), the runner moves the
target's clock past the upcoming calls' starts and reads them again, or records why it could
not; ``judged`` then makes the case's verdict once, from every read and that reason.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from conformance.domain.model import Check, Expectation
from conformance.judging.checks import Judgement, Reply, compared
from conformance.judging.outcomes import FlagMap, flag_changes

Wait = Literal["start", "pending"]


@dataclass(frozen=True)
class Flagged:
    """The flags of a case's calls as read: before the request, once it was answered, and
    (``later``) once the clock passed the upcoming calls' starts, or why the clock could not
    move there (``unmoved``); ``upcoming``: whether the case set up an upcoming call."""

    before: FlagMap
    after: FlagMap
    upcoming: bool = False
    later: FlagMap | None = None
    unmoved: str | None = None

    @property
    def last(self) -> FlagMap:
        """The flags as last read: what the case is judged on."""
        return self.after if self.later is None else self.later


def waits(reply: Reply, expectation: Expectation, flagged: Flagged) -> Wait | None:
    """What the first read leaves open until the upcoming calls start: a failed case where
    nothing changed though a success on an upcoming call was allowed ("start": the target may
    apply it then), or a pending keep where upcoming calls sat outside next's window
    ("pending": it must not land on one of them)."""
    first = compared(reply, expectation, flagged.before, flagged.after)
    failed = any(c.verdict == "fail" for c in first.checks)
    if failed and expectation.deferrable and not flag_changes(flagged.before, flagged.after):
        return "start"
    pending = first.outcome is not None and first.outcome.pending
    return "pending" if flagged.upcoming and pending and not failed else None


def judged(reply: Reply, expectation: Expectation, flagged: Flagged | None) -> Judgement:
    """The case's verdict: the answer, then the flags as ``waits`` says they are to be read."""
    if flagged is None:
        return compared(reply, expectation, None, None)
    wait = waits(reply, expectation, flagged)
    if wait == "start" and flagged.later is not None:
        return _started(compared(reply, expectation, flagged.before, flagged.later))
    first = compared(reply, expectation, flagged.before, flagged.after)
    if wait == "start" and flagged.unmoved is not None:
        return _untestable(reply, first, flagged.unmoved)
    if wait == "pending" and flagged.later is not None:
        return replace(first, checks=first.checks + _landed(expectation, flagged))
    return first


def _started(found: Judgement) -> Judgement:
    """Judged on the flags once the call started: where it passes, the change waited."""
    if any(c.verdict == "fail" for c in found.checks):
        return found
    return replace(found, checks=[*found.checks,
                                  Check("KC-TYPE-007", "observed", "when the call starts")])


def _untestable(reply: Reply, first: Judgement, why: str) -> Judgement:
    """The clock could not move: a failure of the flags is not tested (the change may still
    wait for the call's start), but a failure of the answer itself (a body in the wrong
    format, broken XML, a 5xx) has nothing to do with time and stands."""
    reason = f"a change on an upcoming call may wait for its start; {why}"
    stands = [c for c in reply.checks if c.verdict == "fail"]
    return replace(first, checks=[Check(c.requirement, "not-tested", reason)
                                  if c.verdict == "fail" and c not in stands else c
                                  for c in first.checks])


def _landed(expectation: Expectation, flagged: Flagged) -> list[Check]:
    """A pending keep that landed on one of the upcoming calls once they started fails, unless
    a success on that call was allowed too (waiting for its start: KC-TYPE-007)."""
    assert flagged.later is not None
    waiting = {(o.call_id, o.flag, o.value) for o in expectation.deferrable}
    return [Check("KC-FLAG-002", "fail",
                  f"answered as a pending keep (nothing changed), then {flag} of {call_id} "
                  f"became {value} once the clock passed the calls' starts: a call that stood "
                  "outside the lookup when the request came")
            for call_id, flag, value in sorted(
                flag_changes(flagged.before, flagged.later) - waiting)]
