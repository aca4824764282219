"""Property-based tests: generated requests on generated scenarios, judged by the oracle.

The matrix covers the values the page names; these properties look for what nobody listed
(odd values, odd orders, shared and prefix-related numbers, offsets next to the 60 s window).
Every example goes through ``runner.run`` like a matrix case, so the properties are the
matrix's checks (format, no 5xx, code and flags against the oracle) on generated input. A
failure is shrunk by Hypothesis and reported once, as the control call that set its scenario
up and one curl line. See docs/PROPERTIES.md.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import hypothesis
import pytest
from hypothesis.errors import Flaky
from hypothesis.strategies import SearchStrategy

from conformance.checks import Check
from conformance.ledger import MAX_EVIDENCE, Evidence
from conformance.model import Scenario
from conformance.plugin import KeepCallSession
from conformance.requirements import gating
from conformance.runner import Result, run
from conformance.strategies import (
    NO_CALLS,
    Budget,
    Deadline,
    Example,
    Instance,
    RequestPlan,
    general_examples,
    hypothesis_settings,
    neighbour_examples,
    prefix_examples,
    scenario_free_requests,
    window_examples,
)

QUICK_EXAMPLES = 50
SHRINK_SECONDS, QUICK_SHRINK_SECONDS = 30, 15

# What every example checks: the answer's form, and what the oracle says of its outcome.
FORM = ("KC-HTTP-004", "KC-RT-001", "KC-RT-002", "KC-RT-003", "KC-RT-004", "KC-XML-001",
        "KC-XML-002", "KC-XML-003", "KC-XML-004", "KC-XML-005")
ERRORS = ("KC-ACTION-001", "KC-ACTION-002", "KC-AUTH-001", "KC-AUTH-002", "KC-AUTH-003",
          "KC-AUTH-004", "KC-ID-002", "KC-ID-003", "KC-EXT-006", "KC-STATUS-007",
          "KC-STATUS-012")
FLAGS = ("KC-FLAG-001", "KC-FLAG-002", "KC-ID-001", "KC-EXT-001", "KC-EXT-002", "KC-EXT-003",
         "KC-EXT-004", "KC-STATUS-001", "KC-STATUS-002", "KC-STATUS-003", "KC-STATUS-004",
         "KC-STATUS-005", "KC-STATUS-006", "KC-TYPE-001", "KC-TYPE-002", "KC-TYPE-003",
         "KC-UNMARK-001", "KC-UNMARK-002", "KC-UNMARK-003")


class PropertyFailure(AssertionError):
    """An example broke a gating requirement; Hypothesis shrinks on it."""


@dataclass(frozen=True)
class PropertyRun:
    """What all property tests of a run share: the time budget and how to seed Hypothesis."""

    budget: Budget
    seed: int | None
    derandomize: bool

    def settings(self, kc: KeepCallSession, steps: int | None = None) -> hypothesis.settings:
        examples = kc.settings.examples
        if kc.settings.quick:
            examples = min(examples, QUICK_EXAMPLES)
        return hypothesis_settings(examples, self.derandomize, steps)

    def seeded(self, test: Callable[..., None]) -> Callable[..., None]:
        return test if self.seed is None else hypothesis.seed(self.seed)(test)

    def repeat_hint(self) -> str:
        return "derandomized (CI)" if self.seed is None else f"repeat with --seed {self.seed}"


_RUN = pytest.StashKey[PropertyRun]()


def property_run(kc: KeepCallSession, config: pytest.Config) -> PropertyRun:
    """The run's shared settings: --seed N repeats a run; CI derandomizes; otherwise a fresh
    seed is drawn and printed with any failure, so that run can be repeated too."""
    if _RUN not in config.stash:
        seed: int | None = kc.settings.seed
        derandomize = False
        if not seed:
            derandomize = bool(os.environ.get("CI"))
            seed = None if derandomize else random.SystemRandom().randrange(1, 2**31)
        config.stash[_RUN] = PropertyRun(Budget(kc.settings.budget), seed, derandomize)
    return config.stash[_RUN]


class Search:
    """One property's search: runs examples, records passes, keeps the last failure.

    Hypothesis replays the shrunk failing example last, so ``failure`` ends as the minimal one.
    """

    def __init__(self, kc: KeepCallSession, item_id: str, deadline: Deadline,
                 shared: PropertyRun) -> None:
        self.kc, self.item_id, self.deadline, self.shared = kc, item_id, deadline, shared
        self.ran = 0
        self.passes: list[Check] = []
        self.failure: Result | None = None
        self.gate = gating(kc.settings.level)

    @property
    def active(self) -> bool:
        """False once the budget is spent or the target stopped answering (not after a
        failure: shrinking must see real answers)."""
        if self.failure is not None:
            return True
        broken = self.kc.target.client.consecutive_failures >= self.kc.settings.breaker
        return not (self.deadline.passed or broken)

    def check(self, result: Result) -> None:
        failing = [c for c in result.failures if c.requirement in self.gate]
        if failing:
            self.failure = result
            raise PropertyFailure("\n".join([*_lines(failing), "reproduce:",
                                             result.reproduction()]))
        self.ran += 1
        self.passes += result.checks
        if result.exchange is not None and not result.exchange.ok:
            self.kc.ledger.transport_failures += 1

    def finish(self, search: Callable[[], None], requirements: tuple[str, ...]) -> None:
        """Run the search, then fail with the shrunk example, or pass, or skip if none ran."""
        try:
            with _shrinking_limited(QUICK_SHRINK_SECONDS if self.kc.settings.quick
                                    else SHRINK_SECONDS):
                search()
        except PropertyFailure:
            pass
        except Flaky as error:  # a replay went otherwise; a failure found still stands
            if self.failure is None:  # our search's own fault: never the target's verdict
                why = f"suite: Hypothesis {type(error).__name__}; the examples before it count"
                self.kc.ledger.not_tested(f"{self.item_id}/replay", requirements, why)
                self.kc.ledger.suite_notes.append(f"{self.item_id}: {why}")
        if self.failure is not None:
            self.report(self.failure)
        if self.ran == 0:
            why = "the property budget was spent before this property ran"
            self.kc.ledger.not_tested(self.item_id, requirements, why)
            pytest.skip(f"not tested: {why}")
        # One ledger case per property: the checks of all its examples, folded.
        self.kc.ledger.record(self.item_id, self.passes)

    def report(self, failure: Result) -> None:
        """Record the shrunk example once (with the passes before it), put it first in the
        evidence, fail the test."""
        text = f"{failure.reproduction()}\n# shrunk by Hypothesis; {self.shared.repeat_hint()}"
        reported = _Reproduced(failure.scenario, failure.request, failure.expectation,
                               [*self.passes, *failure.checks], failure.exchange,
                               failure.setup, failure.skipped)
        reported.text = text
        try:
            self.kc.record(self.item_id, reported)
        finally:
            _evidence_first(self.kc, self.item_id, failure, text)


@contextlib.contextmanager
def _shrinking_limited(seconds: int) -> Iterator[None]:
    """Bound Hypothesis's shrinking (300 s by default; a stateful run against a remote target
    can take that long). Hypothesis has no setting for it, so its module constant is set for
    the duration of the search; if a future version drops it, shrinking is simply unbounded."""
    from hypothesis.internal.conjecture import engine

    old = getattr(engine, "MAX_SHRINKING_SECONDS", None)
    if old is None:
        yield
        return
    engine.MAX_SHRINKING_SECONDS = min(old, seconds)
    try:
        yield
    finally:
        engine.MAX_SHRINKING_SECONDS = old


class _Reproduced(Result):
    """A result with a reproduction written by the search (setup, request, how to repeat)."""

    text: str = ""

    def reproduction(self) -> str:
        return self.text


def _evidence_first(kc: KeepCallSession, case: str, result: Result, curl: str) -> None:
    """The shrunk example is the evidence to read first, even if the matrix failed earlier."""
    for check in result.failures:
        entry = kc.ledger.entries[check.requirement]
        mine = [e for e in entry.evidence if e.case == case] or [
            Evidence(case, check.message, curl)]
        others = [e for e in entry.evidence if e.case != case]
        entry.evidence = (mine + others)[:MAX_EVIDENCE]


def _lines(checks: list[Check]) -> list[str]:
    return [f"{c.requirement} {c.message}" for c in checks]


def _start(kc: KeepCallSession, request: pytest.FixtureRequest,
           share: float) -> tuple[Search, PropertyRun]:
    shared = property_run(kc, request.config)
    return Search(kc, request.node.nodeid, shared.budget.share(share), shared), shared


# Free generation, then directed families: the shapes a deviation needs to show (a number
# that is a prefix of another, a call just beyond the minute, neighbours on one number) are
# too rare in free generation to be found reliably, so each family gets examples of its own.
# (family, its strategy, the share of the remaining property budget it may spend)
FAMILIES = (("free", general_examples, 0.4), ("prefix", prefix_examples, 0.2),
            ("window", window_examples, 0.25), ("neighbours", neighbour_examples, 0.34))


@pytest.mark.parametrize(("family", "share"), [pytest.param(
    strategy, share, id=name, marks=pytest.mark.requirement(*FORM, *ERRORS, *FLAGS))
    for name, strategy, share in FAMILIES])
def test_generated_requests_on_generated_scenarios(
        kc: KeepCallSession, request: pytest.FixtureRequest,
        family: Callable[[], SearchStrategy[Example]], share: float) -> None:
    """Each example: fresh calls through the control protocol, one request, flags read back."""
    search, shared = _start(kc, request, share)
    if kc.target.control is None:
        why = "generated scenarios need a control URL (--control-url)"
        kc.ledger.not_tested(search.item_id, (*FORM, *ERRORS, *FLAGS), why)
        pytest.skip(f"not tested: {why}")

    @shared.settings(kc)
    @hypothesis.given(family())
    def property_(example: Example) -> None:
        if search.active:
            scenario, keepcall = example.instantiate(kc.numbering)
            search.check(run(kc.target, scenario, keepcall, fresh=True))

    search.finish(shared.seeded(property_), (*FORM, *ERRORS, *FLAGS))


@pytest.mark.requirement(*FORM, *ERRORS)
def test_generated_requests_are_answered_in_form(kc: KeepCallSession,
                                                 request: pytest.FixtureRequest) -> None:
    """Needs no control URL: requests on calls nobody set up (or a profile's static calls),
    judged on the answer alone; with a control URL the flags are read back as well."""
    search, shared = _start(kc, request, 0.25)
    instance = _static_instance(kc)

    @shared.settings(kc)
    @hypothesis.given(scenario_free_requests())
    def property_(plan: RequestPlan) -> None:
        if search.active:
            target_instance = instance or _unprovisioned(kc)
            keepcall = plan.instantiate(target_instance)
            empty = Scenario("none", (), "", "")
            search.check(run(kc.target, empty, keepcall, fresh=False))

    search.finish(shared.seeded(property_), (*FORM, *ERRORS))


def _static_instance(kc: KeepCallSession) -> Instance | None:
    """Without a control URL, a profile's static calls are the meaningful pool."""
    calls = kc.target.static_calls
    if kc.target.control is not None or not calls:
        return None
    numbers = tuple(dict.fromkeys(p for c in calls for p in c.parties()))
    return Instance(Scenario("static", calls, numbers[0], calls[0].call_id), numbers)


def _unprovisioned(kc: KeepCallSession) -> Instance:
    """Fresh callIDs and numbers that exist nowhere on the target."""
    return NO_CALLS.instantiate(kc.numbering)
