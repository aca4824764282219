"""Whether a target reads each open point one way across a run (KC-READ-001).

Where the page is silent, each case accepts every reasonable reading; a target may take any of
them, but a target that is case-insensitive in one case and not in the next, or keeps the
callID's call in one ``both ids`` case and the extension's in another, reads the page by
chance. Only cases whose answer exactly one reading of a point explains count
(``model.decisive``): an answer several readings explain says nothing. What a run keeps is
bounded: a count per (point, reading) and a few example cases of each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from conformance.catalog.requirements import RequirementId
from conformance.domain.model import Check, Reading, decisive

REQUIREMENT: Final = "KC-READ-001"
CASE: Final = "readings"  # the ledger's case for the run-wide check
MAX_EXAMPLES: Final = 3

Point = tuple[RequirementId, str]  # (OBSERVE requirement, aspect)


@dataclass
class Seen:
    """How many cases showed one reading of one point, and the first few of them."""

    cases: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, count: int, examples: Sequence[str]) -> None:
        self.cases += count
        self.examples = [*self.examples, *(e for e in examples if e not in self.examples)][
            :MAX_EXAMPLES]


@dataclass
class Readings:
    """Per point, the readings that cases showed decisively."""

    seen: dict[Point, dict[str, Seen]] = field(default_factory=dict)

    def add(self, readings: Sequence[Reading], case: str) -> None:
        """The combinations of readings that explain one case's answer."""
        for point, option in decisive(readings).items():
            self._add(point, option, 1, [case])

    def _add(self, point: Point, option: str, count: int, examples: Sequence[str]) -> None:
        self.seen.setdefault(point, {}).setdefault(option, Seen()).add(count, examples)

    def state(self) -> list[list[Any]]:
        return [[rid, aspect, option, s.cases, s.examples]
                for (rid, aspect), options in self.seen.items() for option, s in options.items()]

    def merge(self, state: Sequence[Sequence[Any]]) -> None:
        """Another shard's readings: the comparison runs over the whole run's cases."""
        for rid, aspect, option, cases, examples in state:
            self._add((rid, aspect), option, cases, examples)

    def checks(self) -> list[Check]:
        """One check per point shown decisively: fail where cases show two readings of it."""
        if not self.seen:
            return [Check(REQUIREMENT, "not-tested", "no answer showed one reading alone")]
        return [_check(point, options) for point, options in sorted(self.seen.items())]


def _check(point: Point, options: dict[str, Seen]) -> Check:
    if len(options) == 1:
        return Check(REQUIREMENT, "pass")
    rid, aspect = point
    name = f"{rid} ({aspect})" if aspect else rid
    shown = "; ".join(f"{option!r} in {s.cases} case{'s' * (s.cases != 1)} "
                      f"(e.g. {', '.join(s.examples)})"
                      for option, s in sorted(options.items(), key=lambda i: -i[1].cases))
    return Check(REQUIREMENT, "fail", f"{name} read more than one way: {shown}")
