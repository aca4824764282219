"""The property machinery: the time budget, Hypothesis settings, and one property's search.

The property and stateful tests (conformance/suite) share it: a run's budget split between
them, seeds that repeat a run, bounded shrinking, and a search that records every passing
example's checks and reports the shrunk failure once, with its reproduction first in the
evidence. A Hypothesis error of the search itself is a suite note, never a target's verdict.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import hypothesis
import pytest
from hypothesis import HealthCheck, Phase, Verbosity
from hypothesis.errors import Flaky

from conformance.catalog.requirements import RequirementId, gating
from conformance.domain.model import Check
from conformance.integration.settings import Settings
from conformance.judging.ledger import Ledger
from conformance.running.runner import Result
from conformance.wire.target import Target


class RunSession(Protocol):
    """What a search needs of the run (the plugin's session is one): the property machinery
    sits below the plugin and never imports it."""

    settings: Settings
    target: Target
    ledger: Ledger
    deferred: list[str]  # the case ids the exclusive part runs again

    def remaining(self) -> float | None: ...

    def record(self, item_id: str, result: Result, reproduction: str | None = None,
               lead: bool = False) -> None: ...


# --quick: examples per property. A quick run is a CI gate, bound by its round trips to the
# target (three or four an example); the kill matrix kills every fault with 3 (killmatrix.py).
QUICK_EXAMPLES = 12
SHRINK_SECONDS, QUICK_SHRINK_SECONDS = 30, 5

# What every example checks: the answer's form, and what the oracle says of its outcome.
FORM: tuple[RequirementId, ...] = (
    "KC-HTTP-004", "KC-RT-001", "KC-RT-002", "KC-RT-003", "KC-RT-004", "KC-XML-001",
    "KC-XML-002", "KC-XML-003", "KC-XML-004", "KC-XML-005")
ERRORS: tuple[RequirementId, ...] = (
    "KC-ACTION-001", "KC-ACTION-002", "KC-AUTH-001", "KC-AUTH-002", "KC-AUTH-003",
    "KC-AUTH-004", "KC-ID-002", "KC-ID-003", "KC-EXT-006", "KC-STATUS-007", "KC-STATUS-012")
FLAGS: tuple[RequirementId, ...] = (
    "KC-FLAG-001", "KC-FLAG-002", "KC-ID-001", "KC-EXT-001", "KC-EXT-002", "KC-EXT-003",
         "KC-EXT-004", "KC-STATUS-001", "KC-STATUS-002", "KC-STATUS-003", "KC-STATUS-004",
         "KC-STATUS-005", "KC-STATUS-006", "KC-TYPE-001", "KC-TYPE-002", "KC-TYPE-003",
         "KC-UNMARK-001", "KC-UNMARK-002", "KC-UNMARK-003")


def hypothesis_settings(max_examples: int, steps: int | None = None) -> hypothesis.settings:
    """Settings for the suite's properties: no example database, no deadline, no health
    checks about slow data (every example makes HTTP requests), one bug reported, shrunk."""
    extra = {} if steps is None else {"stateful_step_count": steps}
    return hypothesis.settings(
        max_examples=max(1, max_examples), deadline=None,
        database=None, report_multiple_bugs=False, print_blob=False,
        verbosity=Verbosity.quiet, phases=(Phase.explicit, Phase.generate, Phase.shrink),
        suppress_health_check=(HealthCheck.too_slow, HealthCheck.filter_too_much,
                               HealthCheck.data_too_large, HealthCheck.large_base_example),
        **extra)  # type: ignore[arg-type]


class Budget:
    """Wall-clock seconds shared by the property tests of one run.

    Each test takes a share of what is left; once its share is spent, the examples it still
    generates do nothing (cheap) until Hypothesis reaches ``max_examples``, unless a failure
    was seen: then shrinking runs to its end, because a no-op would look like a pass.
    """

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._end = clock() + seconds

    def remaining(self) -> float:
        return max(0.0, self._end - self._clock())

    def share(self, fraction: float) -> Deadline:
        return Deadline(self._clock() + self.remaining() * fraction, self._clock)


class Deadline:
    def __init__(self, end: float, clock: Callable[[], float]) -> None:
        self._end, self._clock = end, clock

    @property
    def passed(self) -> bool:
        return self._clock() >= self._end


class PropertyFailure(AssertionError):
    """An example broke a gating requirement; Hypothesis shrinks on it."""


@dataclass(frozen=True)
class PropertyRun:
    """What all property tests of a run share: the time budget and the seed of Hypothesis."""

    budget: Budget
    seed: int

    def settings(self, kc: RunSession, steps: int | None = None) -> hypothesis.settings:
        examples = kc.settings.examples
        if kc.settings.quick:
            examples = min(examples, QUICK_EXAMPLES)
        return hypothesis_settings(examples, steps)

    def seeded(self, test: Callable[..., None]) -> Callable[..., None]:
        return hypothesis.seed(self.seed)(test)

    def repeat_hint(self) -> str:
        return f"repeat with --seed {self.seed}"


_RUN = pytest.StashKey[PropertyRun]()


def property_run(kc: RunSession, config: pytest.Config) -> PropertyRun:
    """The run's shared settings: Hypothesis seeded with the run's seed (--seed N, or the one
    drawn for the run, printed at its start and recorded in results.json)."""
    if _RUN not in config.stash:
        left = kc.remaining()  # --max-duration bounds the searches too
        budget = kc.settings.budget if left is None else min(kc.settings.budget, left)
        config.stash[_RUN] = PropertyRun(Budget(budget), kc.settings.seed)
    return config.stash[_RUN]


class Search:
    """One property's search: runs examples, records passes, keeps the last failure.

    Hypothesis replays the shrunk failing example last, so ``failure`` ends as the minimal one;
    ``reproduction`` is how to repeat it (a stateful search writes its steps there).
    """

    def __init__(self, kc: RunSession, item_id: str, deadline: Deadline,
                 shared: PropertyRun) -> None:
        self.kc, self.item_id, self.deadline, self.shared = kc, item_id, deadline, shared
        self.ran = 0
        self.passes: list[Check] = []
        self.failure: Result | None = None
        self.reproduction = ""
        self.gate = gating(kc.settings.level)
        self.deferred = False  # an example had to move the shared clock (see ``check``)

    @property
    def active(self) -> bool:
        """False once the budget is spent or the target stopped answering (not after a
        failure: shrinking must see real answers)."""
        if self.deferred:
            return False
        if self.failure is not None:
            return True
        broken = self.kc.target.client.consecutive_failures >= self.kc.settings.breaker
        return not (self.deadline.passed or broken)

    def check(self, result: Result) -> None:
        """Count an example; fail the search on a gating failure. An example that must move
        the target's clock, which the other parts of a --workers run share, defers the whole
        search to the run's exclusive part: it stops here and runs there again, from its
        first example, as in a serial run."""
        if result.deferred:
            self.deferred = True
            return
        failing = [c for c in result.failures if c.requirement in self.gate]
        if failing:
            self.fail(result, result.reproduction(), failing)
        self.ran += 1
        self.passes += result.checks

    def fail(self, result: Result, reproduction: str, failing: list[Check]) -> None:
        """Keep ``result`` as the failure so far, and raise for Hypothesis to shrink on."""
        self.failure, self.reproduction = result, reproduction
        lines = [f"{c.requirement} {c.message}" for c in failing]
        raise PropertyFailure("\n".join([*lines, "reproduce:", reproduction]))

    def finish(self, search: Callable[[], None], requirements: tuple[RequirementId, ...]) -> None:
        """Run the search, then fail with the shrunk example, or pass, or skip if none ran."""
        quick = self.kc.settings.quick
        started = time.monotonic()
        try:
            with _shrinking_limited(QUICK_SHRINK_SECONDS if quick else SHRINK_SECONDS):
                search()
        except PropertyFailure:
            pass
        except Flaky as error:  # a replay went otherwise; a failure found still stands
            if self.failure is None:  # our search's own fault: never the target's verdict
                why = f"suite: Hypothesis {type(error).__name__}; the examples before it count"
                self.kc.ledger.not_tested(f"{self.item_id}/replay", requirements, why)
                self.kc.ledger.suite_notes.append(f"{self.item_id}: {why}")
        if self.deferred:
            self.kc.deferred.append(self.item_id)
            pytest.skip("deferred: an example must move the target's clock (the exclusive part)")
        self.kc.ledger.searches[self.item_id] = {
            "examples": self.ran, "seconds": round(time.monotonic() - started, 2)}
        if self.failure is not None:
            self.report(self.failure)
        if self.ran == 0:
            why = "the property budget was spent before this property ran"
            self.kc.ledger.not_tested(self.item_id, requirements, why)
            pytest.skip(f"not tested: {why}")
        # One ledger case per property: the checks of all its examples, folded.
        self.kc.ledger.record(self.item_id, self.passes)

    def report(self, failure: Result) -> None:
        """Record the passes, then the shrunk example with its evidence first; fail the test."""
        text = f"{self.reproduction}\n# shrunk by Hypothesis; {self.shared.repeat_hint()}"
        self.kc.ledger.record(self.item_id, self.passes, counted=False)
        self.kc.record(self.item_id, failure, reproduction=text, lead=True)


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


def start(kc: RunSession, request: pytest.FixtureRequest,
          share: float) -> tuple[Search, PropertyRun]:
    shared = property_run(kc, request.config)
    return Search(kc, request.node.nodeid, shared.budget.share(share), shared), shared
