"""The ledger: every check of a run, folded into one verdict per requirement.

A requirement passes only when at least one case checked it and none failed it; a requirement
whose every case was skipped, errored or never reached the target is "not-tested", never "pass".
OBSERVE requirements are "observed" with the readings the target took, counted.

A run is "conformant" only when every gating requirement passed: one where nothing gating
failed but some gating requirement was not tested is "partial", because a certificate must
rest on the whole gate (``allow_untested`` gates on what was tested instead).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from conformance.catalog.requirements import CATALOG, Gate, Requirement, RequirementId, gating
from conformance.domain.model import Check, Verdict
from conformance.judging.causes import Answer, Causes

RunVerdict = Literal["conformant", "not-conformant", "partial", "inconclusive"]
# The CLI's exit code for each verdict (2, a usage error, is no verdict).
EXIT_CODES: dict[RunVerdict, int] = {
    "conformant": 0, "not-conformant": 1, "inconclusive": 3, "partial": 4}
MAX_EVIDENCE = 5
Row = tuple[str, Verdict, str]  # a case's checks alike: requirement, verdict, observation
Tally = tuple[tuple[Row, int], ...]  # a case's rows, counted, in the order first seen


def decide(*, broken: bool, failed: bool, cut_short: bool, judged: bool, untested: bool,
           allow_untested: bool) -> RunVerdict:
    """The run's verdict, here alone (an expected-failures file judges with it too).

    Inconclusive beats everything (the run broke), a failure beats a gap or a run cut short
    (which is never conformant, nor is one that judged nothing), and a gap in the gate is
    "partial" unless the user chose to gate on what was tested."""
    if broken:
        return "inconclusive"
    if failed:
        return "not-conformant"
    if cut_short or not judged:
        return "inconclusive"
    if untested and not allow_untested:
        return "partial"
    return "conformant"


@dataclass
class Evidence:
    case: str
    message: str
    curl: str
    answer: Answer | None = None  # what the target answered (redacted, bounded)


class Cases:
    """Some of a run's cases, as bits over the ledger's numbering of case ids: a full run puts
    about eleven requirements' worth of cases in these sets, a quarter of a million members,
    which as Python sets of ids took 40 MB and as bits take a few KB."""

    __slots__ = ("_bits", "_numbers")

    def __init__(self, numbers: dict[str, int], bits: bytearray | None = None) -> None:
        self._numbers = numbers  # case id -> its number, shared by the ledger's sets
        self._bits = bits if bits is not None else bytearray()

    def add(self, case: str) -> None:
        number = self._numbers.setdefault(case, len(self._numbers))
        byte = number >> 3
        if byte >= len(self._bits):
            self._bits.extend(bytes(byte + 1 - len(self._bits) + 1024))
        self._bits[byte] |= 1 << (number & 7)

    def __len__(self) -> int:
        return int.from_bytes(self._bits, "little").bit_count()

    def __bool__(self) -> bool:
        return any(self._bits)

    def __sub__(self, other: Cases) -> Cases:
        mine, theirs = (int.from_bytes(s._bits, "little") for s in (self, other))
        left = mine & ~theirs
        return Cases(self._numbers, bytearray(left.to_bytes(len(self._bits), "little")))


@dataclass
class Entry:
    """What the run learnt about one requirement."""

    requirement: Requirement
    numbers: dict[str, int] = field(default_factory=dict, repr=False)  # the ledger's
    cases: Cases = field(init=False)
    passed: Cases = field(init=False)
    failed: Cases = field(init=False)
    untested: Cases = field(init=False)
    observations: Counter[str] = field(default_factory=Counter)
    evidence: list[Evidence] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cases, self.passed, self.failed, self.untested = (
            Cases(self.numbers) for _ in range(4))

    @property
    def verdict(self) -> Verdict:
        if self.requirement.level == "OBSERVE":
            return "observed" if self.observations else "not-tested"
        if self.failed:
            return "fail"
        return "pass" if self.passed else "not-tested"

    def to_json(self) -> dict[str, object]:
        r = self.requirement
        return {"id": r.id, "level": r.level, "title": r.title, "clause": r.clause,
                "source": r.source, "verdict": self.verdict, "cases": len(self.cases),
                "failed": len(self.failed), "not_tested": len(self.untested - self.passed),
                "observations": dict(self.observations.most_common()),
                "evidence": [e.__dict__ for e in self.evidence]}


class CaseRows(Mapping[str, list[list[Any]]]):
    """The ledger's cases as its state gives them (case -> [requirement, verdict, observation,
    count] rows), each made when it is read: cases.json.gz is written case by case, so a full
    run's 21,800 cases are never built all at once beside the tallies they come from."""

    __slots__ = ("_tallies",)

    def __init__(self, tallies: Mapping[str, Tally]) -> None:
        self._tallies = tallies

    def __getitem__(self, case: str) -> list[list[Any]]:
        return [[*key, n] for key, n in self._tallies[case]]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tallies)

    def __len__(self) -> int:
        return len(self._tallies)


class Ledger:
    def __init__(self) -> None:
        numbers: dict[str, int] = {}  # every case id, numbered once for all entries' sets
        self.entries = {r.id: Entry(r, numbers) for r in CATALOG}
        self.cases_run = 0
        self.aborted: str | None = None
        # Why the run stopped before its last case (--max-duration): what failed still fails,
        # but a run that did not finish is never conformant.
        self.cut_short: str | None = None
        self.internal_errors: list[str] = []
        # What went wrong in the suite's own search or probes without costing the verdict
        # (reported).
        self.suite_notes: list[str] = []
        # What each property search cost: its examples and seconds (within --budget).
        self.searches: dict[str, dict[str, float]] = {}
        self.causes = Causes()  # the failures grouped by root cause
        # case -> (requirement, verdict, observation) -> checks: the case manifest, and what a
        # shard hands to the merge
        self.tallies: dict[str, Tally] = {}
        # Tallies alike are one object: a full run's 21,800 are a few thousand kinds.
        self._alike: dict[Tally, Tally] = {}
        self._rows: dict[Row, Row] = {}  # and rows alike too

    def record(self, case: str, checks: Iterable[Check], curl: str = "",
               lead: bool = False, counted: bool = True, answer: Answer | None = None) -> None:
        """Fold a case's checks in. ``lead``: its evidence goes first (a shrunk example is
        what to read first); ``counted``: False for more checks of a case already counted."""
        self.cases_run += counted
        checks = list(checks)
        rows: dict[Row, int] = {}
        self.causes.add(case, checks, curl, lead, answer)
        for check in checks:
            self._fold(case, check.requirement, check.verdict, check.message, rows=rows)
            if check.verdict == "fail":
                entry = self.entries[check.requirement]
                evidence = Evidence(case, check.message, curl, answer)
                at = 0 if lead else len(entry.evidence)
                entry.evidence = [*entry.evidence[:at], evidence,
                                  *entry.evidence[at:]][:MAX_EVIDENCE]
        self._tally(case, rows)

    def _tally(self, case: str, rows: dict[Row, int]) -> None:
        """Add ``rows`` to the case's tally (the case manifest's line, and a shard's share)."""
        if not rows:
            return
        earlier = dict(self.tallies.get(case, ()))
        for row, count in rows.items():
            earlier[row] = earlier.get(row, 0) + count
        tally = tuple((self._rows.setdefault(row, row), n) for row, n in earlier.items())
        self.tallies[case] = self._alike.setdefault(tally, tally)

    def _fold(self, case: str, requirement: RequirementId, verdict: Verdict, message: str,
              count: int = 1, *, rows: dict[Row, int]) -> None:
        """One check (``count`` alike) into its requirement's entry and the case's tally."""
        entry = self.entries[requirement]
        entry.cases.add(case)
        kept = message if verdict == "observed" else ""  # a failure's words are evidence
        rows[(requirement, verdict, kept)] = rows.get((requirement, verdict, kept), 0) + count
        if verdict == "pass":
            entry.passed.add(case)
        elif verdict == "fail":
            entry.failed.add(case)
        elif verdict == "observed":
            entry.observations[message] += count
        else:
            entry.untested.add(case)

    # --- the state of a shard, and shards merged -------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything the verdicts come from, as JSON: a shard's part of a run (merge)."""
        return {"cases_run": self.cases_run,
                "cases": CaseRows(self.tallies),
                "evidence": {e.requirement.id: [vars(x) for x in e.evidence]
                             for e in self.entries.values() if e.evidence},
                "causes": self.causes.state(), "aborted": self.aborted,
                "cut_short": self.cut_short, "internal_errors": self.internal_errors,
                "suite_notes": self.suite_notes, "searches": self.searches}

    def merge(self, state: Mapping[str, Any]) -> None:
        """Fold in a shard's ``state``: the same folding as ``record``, so the verdicts,
        counts and observations equal one run's over the union of the cases."""
        self.cases_run += state["cases_run"]
        for case, found in state["cases"].items():
            rows: dict[Row, int] = {}
            for requirement, verdict, message, count in found:
                self._fold(case, requirement, verdict, message, count, rows=rows)
            self._tally(case, rows)
        for requirement, found in state["evidence"].items():
            entry = self.entries[requirement]
            entry.evidence = [*entry.evidence, *(Evidence(**e) for e in found)][:MAX_EVIDENCE]
        self.causes.merge(state["causes"])
        self.aborted = self.aborted or state["aborted"]
        self.cut_short = self.cut_short or state["cut_short"]
        self.internal_errors += state["internal_errors"]
        self.suite_notes += state["suite_notes"]
        self.searches |= state["searches"]

    def not_tested(self, case: str, requirements: Iterable[RequirementId], why: str) -> None:
        self.record(case, (Check(r, "not-tested", why) for r in requirements))

    def failed(self, level: Gate) -> list[Entry]:
        gate = gating(level)
        return [e for e in self.entries.values() if e.requirement.id in gate and e.failed]

    def verdict(self, level: Gate,
                allow_untested: bool = False) -> RunVerdict:
        return decide(broken=bool(self.aborted or self.internal_errors),
                      failed=bool(self.failed(level)), cut_short=bool(self.cut_short),
                      judged=self.judged(level), untested=bool(self.untested_gating(level)),
                      allow_untested=allow_untested)

    def judged(self, level: Gate) -> bool:
        """Whether any gating requirement was judged at all: if none was, nothing passed."""
        gate = gating(level)
        return any(e.passed or e.failed for e in self.entries.values()
                   if e.requirement.id in gate)

    def counts(self) -> dict[str, int]:
        return dict(Counter(e.verdict for e in self.entries.values()))

    def untested_gating(self, level: Gate) -> list[str]:
        gate = gating(level)
        return [e.requirement.id for e in self.entries.values()
                if e.requirement.id in gate and e.verdict == "not-tested"]
