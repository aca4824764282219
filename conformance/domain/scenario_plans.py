"""Scenario plans: the calls a generated example needs, as shapes made concrete per run.

A plan is abstract (numbers and calls are indices; one number may extend another by a digit,
so one is a prefix of the other), and ``ScenarioPlan.instantiate`` fills in fresh numbers and
callIDs from the run's ``Numbering`` each time. Its own module because requests, directed
families, fuzzing and the stateful test all build on the same plans.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Final, Literal

from hypothesis import strategies as st

from conformance.catalog.spec import CALL_STATES, CallState
from conformance.domain.model import Call, Flags, Scenario
from conformance.domain.pools import weighted
from conformance.domain.scenarios import Numbering

Party = Literal["caller", "called"]

# Offsets around the 60 s window of `next` (and 0, where an upcoming call starts), then far.
OFFSETS: Final = (30, 0, 1, 59, 60, 61, 90, 120, 299, 300, 301, 600, 3600)
# Upcoming calls: mostly just outside the window (where a too wide window shows), then inside.
STATE_OFFSETS: Final[dict[str, tuple[int, ...]]] = {
    "upcoming": (30, 90, 61, 120, 299, 180, 59, 60, 300, 301, 0, 1, 600)}
MAX_NUMBERS: Final = 3
MAX_CALLS: Final = 4

NO_FLAGS: Final = Flags()


@dataclass(frozen=True)
class CallPlan:
    """One call: its state and offset, which of the scenario's numbers it has and where."""

    state: CallState
    offset: int
    number: int
    party: Party = "caller"
    flags: Flags = NO_FLAGS


@dataclass(frozen=True)
class ScenarioPlan:
    """1-3 numbers (``extends[i]``: the earlier number that number i extends by a digit, so
    that one is a prefix of the other) and the calls on them."""

    extends: tuple[int | None, ...]
    calls: tuple[CallPlan, ...]
    uncontrolled: frozenset[int] = frozenset()

    def numbers(self, numbering: Numbering) -> tuple[str, ...]:
        numbers: list[str] = []
        for index, base in enumerate(self.extends):
            numbers.append(numbering.number() if base is None else numbers[base] + str(index))
        return tuple(numbers)

    def instantiate(self, numbering: Numbering) -> Instance:
        numbers = self.numbers(numbering)
        calls = []
        for plan in self.calls:
            mine, other = numbers[plan.number], numbering.external()
            caller, called = (mine, other) if plan.party == "caller" else (other, mine)
            calls.append(Call(numbering.call_id(), caller, called, plan.state, plan.offset,
                              plan.flags))
        controlled = tuple(n for i, n in enumerate(numbers) if i not in self.uncontrolled)
        scenario = Scenario(self.describe(), tuple(calls), numbers[0], calls[0].call_id,
                            controlled)
        return Instance(scenario, numbers)

    def describe(self) -> str:
        return "; ".join(f"{c.state} {c.offset}s n{c.number} {c.party}" for c in self.calls)


@dataclass(frozen=True)
class Instance:
    """A scenario plan made concrete: the calls to provision and its numbers by index."""

    scenario: Scenario
    numbers: tuple[str, ...]


@functools.cache
def flags() -> st.SearchStrategy[Flags]:
    """Mostly all clear (so a mark shows); sometimes set, so unmark and no-op marks show."""
    return weighted((st.just(NO_FLAGS), 1),
                    (st.builds(Flags, st.booleans(), st.booleans(), st.booleans()), 1))


@functools.cache
def call_plans(numbers: int) -> st.SearchStrategy[CallPlan]:
    return st.sampled_from(CALL_STATES).flatmap(lambda state: st.builds(
        CallPlan, st.just(state), st.sampled_from(STATE_OFFSETS.get(state, OFFSETS)),
        st.integers(0, numbers - 1), st.sampled_from(("caller", "called")), flags()))


# Number i is a fresh one, or extends an earlier one (weight 2: prefix bugs need it often).
_EXTENDS: Final = {i: weighted((st.none(), 1), (st.integers(0, i - 1), 2))
                   for i in range(1, MAX_NUMBERS)}


@st.composite
def scenario_plans(draw: st.DrawFn) -> ScenarioPlan:
    """1-3 numbers, shared or distinct, some prefix-related; 1-4 calls on them."""
    count = draw(st.integers(1, MAX_NUMBERS))
    extends = tuple(None if i == 0 else draw(_EXTENDS[i]) for i in range(count))
    calls = draw(st.lists(call_plans(count), min_size=1, max_size=MAX_CALLS))
    uncontrolled = draw(st.frozensets(st.integers(0, count - 1), max_size=count))
    return ScenarioPlan(extends, tuple(calls), uncontrolled)


# For a target without a control URL: its call is never set up, so a request names nothing there.
NO_CALLS: Final = ScenarioPlan((None,), (CallPlan("finished", 300, 0),))
