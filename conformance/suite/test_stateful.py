"""Stateful test: random sequences of set-ups, keeps, unmarks, protects, manual records and
clock moves; after every step the target's flags must equal the model's.

The model holds each call as provisioned (state and offset on the target's clock, flags) and
asks the oracle what a request may do to the calls as they are *now*: an upcoming call whose
start has passed is ongoing, offsets grow with real and advanced time. Real time is known to a
fraction of a second, so a call within that slack of a boundary is evaluated both ways and the
outcomes united. A target may pick any allowed outcome; the model then follows the target.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import ClassVar

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    get_state_machine_test,
    precondition,
    rule,
)

from conformance.catalog.requirements import RequirementId
from conformance.catalog.spec import (
    ACTION,
    CALL_STATES,
    P_ACTION,
    P_CALL_ID,
    P_EXTENSION,
    P_RESPONSE_TYPE,
    P_STATUS,
    P_TYPE,
    P_UNMARK,
    RESPONSE_TYPES,
    STATUS_VALUES,
    TYPE_FLAGS,
    TYPE_VALUES,
    UNMARK_VALUE,
    CallState,
    Flag,
)
from conformance.catalog.spec import FLAGS as FLAG_NAMES
from conformance.domain.model import (
    PENDING,
    Call,
    Check,
    Expectation,
    Flags,
    KeepCallRequest,
    Method,
    Scenario,
    merged,
)
from conformance.domain.oracle import expect
from conformance.domain.scenario_plans import OFFSETS, flags
from conformance.domain.timeline import CLOCK_RESOLUTION_SECONDS, positions
from conformance.integration.plugin import KeepCallSession
from conformance.integration.search import FLAGS, FORM, Search, property_run
from conformance.judging.checks import judge
from conformance.running.runner import Result, in_spelling, traits

MAX_CALLS = 5
MAX_NUMBERS = 3
# Seconds of uncertainty about the target's clock at a request: the time around it, and a
# clock that may count whole seconds.
SLACK = 0.35 + CLOCK_RESOLUTION_SECONDS
STEPS, QUICK_STEPS = 20, 10
QUICK_RUNS = 5  # --quick: each run is QUICK_STEPS steps of three or four round trips
REQUIREMENTS: tuple[RequirementId, ...] = (*FORM, *FLAGS)

_TYPES = st.sampled_from((None, *TYPE_VALUES))
_UNMARKS = st.sampled_from((None, UNMARK_VALUE))
_FORMATS = st.sampled_from((None, *RESPONSE_TYPES))
_METHODS = st.sampled_from(("GET", "POST"))


@dataclass(frozen=True)
class Tracked:
    """A call as provisioned, and when: local time and the clock advance at that moment."""

    call: Call
    at: float
    advanced: float


@dataclass
class MachineRun:
    """What one run's machines share; a subclass per run holds it (no state between runs)."""

    session: KeepCallSession
    search: Search
    clock_supported: bool = True


class KeepCallMachine(RuleBasedStateMachine):
    """The target's flags against a model that follows the oracle's allowed outcomes."""

    run: ClassVar[MachineRun]  # set on the subclass machine_for() makes for each run

    @property
    def session(self) -> KeepCallSession:
        return self.run.session

    @property
    def search(self) -> Search:
        return self.run.search

    def __init__(self) -> None:
        super().__init__()
        self.numbers: list[str] = []
        self.calls: list[Tracked] = []
        self.flags: dict[str, Flags] = {}
        self.controlled: set[str] = set()
        self.advanced = 0.0
        self.steps: list[str] = []
        self.checks: list[Check] = []
        self.pending: set[tuple[str, Flag, bool]] = set()  # changes a target may apply later
        self.pending_keeps: set[tuple[str, Flag, bool]] = set()  # by number (KC-STATUS-013)

    # --- rules ----------------------------------------------------------------------------
    @precondition(lambda self: len(self.calls) < MAX_CALLS)
    @rule(state=st.sampled_from(CALL_STATES), offset=st.sampled_from(OFFSETS),
          number=st.integers(0, MAX_NUMBERS), prefix=st.booleans(),
          called=st.booleans(), initial=flags(), uncontrolled=st.booleans())
    def set_up_call(self, state: CallState, offset: int, number: int, prefix: bool,
                    called: bool, initial: Flags, uncontrolled: bool) -> None:
        # The model changes whether or not the call is sent: what Hypothesis draws next must
        # not depend on the budget or the target (else its replay is a FlakyStrategyDefinition).
        mine, other = self._number(number, prefix), self.session.numbering.external()
        caller, callee = (other, mine) if called else (mine, other)
        call = Call(self.session.numbering.call_id(), caller, callee, state, offset, initial)
        controlled = () if uncontrolled else (mine,)
        self.calls.append(Tracked(call, time.monotonic(), self.advanced))
        if not self.search.active:
            return
        target = self.session.target
        assert target.control is not None
        setup = target.control.add(Scenario("step", (call,), mine, call.call_id, controlled))
        self.steps.append(f"# setup: {setup}")
        self.flags[call.call_id] = initial
        self.controlled.update(controlled)
        self.pending |= {(call.call_id, flag, value) for number, flag, value
                         in self.pending_keeps if number in call.parties()}

    @precondition(lambda self: bool(self.calls))
    @rule(index=st.integers(0, MAX_CALLS - 1), type_=_TYPES, unmark=_UNMARKS,
          response_type=_FORMATS, method=_METHODS)
    def keep_by_call_id(self, index: int, type_: str | None, unmark: str | None,
                        response_type: str | None, method: Method) -> None:
        call = self.calls[index % len(self.calls)].call
        self._request([(P_CALL_ID, call.call_id)], type_, unmark, response_type, method)

    @precondition(lambda self: bool(self.numbers))
    @rule(index=st.integers(0, MAX_NUMBERS - 1), status=st.sampled_from(STATUS_VALUES),
          type_=_TYPES, unmark=_UNMARKS, response_type=_FORMATS, method=_METHODS)
    def keep_by_extension(self, index: int, status: str, type_: str | None,
                          unmark: str | None, response_type: str | None,
                          method: Method) -> None:
        number = self.numbers[index % len(self.numbers)]
        self._request([(P_EXTENSION, number), (P_STATUS, status)], type_, unmark,
                      response_type, method)

    @precondition(lambda self: bool(self.calls))
    @rule(seconds=st.sampled_from((30, 10, 29, 31, 59, 60, 61, 120)))
    def advance_clock(self, seconds: int) -> None:
        target = self.session.target
        if not (self.search.active and self.run.clock_supported) or target.control is None:
            return
        if target.clock_pinned is not None:
            return  # a token given by the user ages with the clock and cannot be renewed
        if not target.control.advance(seconds):
            self.run.clock_supported = False
            return
        target.forget_token()  # tokens live an hour on the target's clock
        self.advanced += seconds
        self.steps.append(f"# advance the target's clock: POST {target.control.base_url}/clock"
                          f" {{\"advanceSeconds\": {seconds}}}")
        self._sync()

    # --- the model ------------------------------------------------------------------------
    def _number(self, index: int, prefix: bool) -> str:
        if index < len(self.numbers) or len(self.numbers) >= MAX_NUMBERS:
            return self.numbers[index % len(self.numbers)]
        base = self.numbers[0] if prefix and self.numbers else None
        number = self.session.numbering.number() if base is None else (
            base + str(len(self.numbers)))
        self.numbers.append(number)
        return number

    def _request(self, ident: list[tuple[str, str]], type_: str | None, unmark: str | None,
                 response_type: str | None, method: Method) -> None:
        if not self.search.active:
            return
        optional = ((P_TYPE, type_), (P_UNMARK, unmark), (P_RESPONSE_TYPE, response_type))
        params = [(P_ACTION, ACTION), *ident, *((n, v) for n, v in optional if v is not None)]
        request = in_spelling(KeepCallRequest(tuple(params), method),
                              self.session.target.status_spelling)
        target = self.session.target
        assert target.control is not None
        credentials = target.credential_params(request)
        if credentials is None:  # the token was lost mid-run (e.g. refused after a clock move)
            return
        self._sync()
        sent = time.monotonic()
        exchange = target.send(request, credentials)
        expectation = self._expect(request, sent, time.monotonic())
        self.steps.append(exchange.curl)
        after = target.control.flags(self.flags)
        before = self._landed_meanwhile(expectation, after)
        checks = judge(exchange, request, expectation, before, after)
        if after == before and expectation.deferrable:
            checks = self._deferred(expectation, checks)
        if after == before and PENDING in expectation.allowed:
            self._pending_keep(dict(ident), type_, unmark)
        self._settle(checks, after, (request, expectation, exchange))

    def _landed_meanwhile(self, expectation: Expectation,
                          after: dict[str, Flags]) -> dict[str, Flags]:
        """The flags before the request, with the changes left pending that landed while it
        was served and that no outcome of it could make (a deferred keep applied as its call
        started, KC-TYPE-007): they answer an earlier request, not this one."""
        possible = {(o.call_id, o.flag, o.value) for o in expectation.outcomes}
        before = dict(self.flags)
        for call_id, flag, value in self.pending - possible:
            if call_id in after and after[call_id].get(flag) == value != before[call_id].get(flag):
                before[call_id] = before[call_id].with_flag(flag, value)
        return before

    def _deferred(self, expectation: Expectation, checks: list[Check]) -> list[Check]:
        """Nothing changed, though a success on an upcoming call was allowed: the target may
        apply it when the call starts (KC-TYPE-007), so its flag may change later, unasked
        (even where the answer also reads as another allowed outcome, a pending keep)."""
        self.pending |= {(o.call_id, o.flag, o.value) for o in expectation.deferrable
                         if o.call_id is not None and o.flag is not None}
        if any(c.verdict == "fail" for c in checks):
            return [Check("KC-TYPE-007", "observed", "when the call starts")]
        return checks

    def _pending_keep(self, params: dict[str, str], type_: str | None,
                      unmark: str | None) -> None:
        """Nothing changed where a pending keep was allowed: the target may apply it to a call
        set up later on the number (KC-STATUS-013), the flag and value the request names."""
        self.pending_keeps.add((params[P_EXTENSION], TYPE_FLAGS[type_], unmark != UNMARK_VALUE))

    def _sync(self) -> None:
        """Read the flags between steps: only a change left pending may have happened."""
        target = self.session.target
        assert target.control is not None
        after = target.control.flags(self.flags)
        changed = {(i, f, after[i].get(f)) for i in after for f in FLAG_NAMES
                   if after[i].get(f) != self.flags[i].get(f)}
        unasked = changed - self.pending
        check = Check("KC-FLAG-002", "fail", f"flags changed with no request: {unasked}"
                      ) if unasked else Check("KC-FLAG-002", "pass")
        self._settle([check], after, None)

    def _settle(self, checks: list[Check], after: dict[str, Flags],
                sent: tuple[KeepCallRequest, Expectation, object] | None) -> None:
        """Fail the run on a gating failure; otherwise the model follows the target."""
        self.checks += checks
        if any(c.verdict == "fail" and c.requirement in self.search.gate for c in checks):
            scenario = Scenario("stateful", tuple(t.call for t in self.calls), "", "")
            request, expectation = (sent[0], sent[1]) if sent else (
                KeepCallRequest(()), Expectation({}, (), frozenset()))
            failing = [c for c in checks if c.verdict == "fail"]
            self.search.fail(Result(scenario, request, expectation, checks),
                             "\n".join(self.steps), failing)
        self.flags = dict(after)

    def _expect(self, request: KeepCallRequest, sent: float, answered: float) -> Expectation:
        auth = traits(self.session.target)
        controlled = tuple(self.controlled)
        return merged([expect(request, calls, controlled, auth)
                       for calls in self._now(sent, answered)])

    def _now(self, sent: float, answered: float) -> Iterator[list[Call]]:
        """Every way the calls may stand on the target's clock while the request is served."""
        choices = [self._candidates(t, sent, answered) for t in self.calls]
        for combination in itertools.product(*choices):
            yield list(combination)

    def _candidates(self, tracked: Tracked, sent: float, answered: float) -> list[Call]:
        call = replace(tracked.call, flags=self.flags[tracked.call.call_id])
        moved = self.advanced - tracked.advanced
        low = max(sent - tracked.at + moved - SLACK, 0.0)
        return positions(call, low, answered - tracked.at + moved + SLACK)

    def teardown(self) -> None:
        if self.checks and self.search.failure is None:
            self.search.passes += self.checks
            self.search.ran += 1


def machine_for(kc: KeepCallSession, search: Search) -> type[KeepCallMachine]:
    return type("KeepCallMachineRun", (KeepCallMachine,), {"run": MachineRun(kc, search)})


@pytest.mark.requirement(*REQUIREMENTS)
def test_sequences_of_calls_keep_flags_as_the_model(kc: KeepCallSession,
                                                    request: pytest.FixtureRequest) -> None:
    """Random sequences of steps; the shrunk failing sequence is the reproduction."""
    shared = property_run(kc, request.config)
    search = Search(kc, request.node.nodeid, shared.budget.share(1.0), shared)
    why = None
    if kc.target.control is None:
        why = "sequences of calls need a control URL (--control-url)"
    elif kc.target.credential_params(KeepCallRequest(())) is None:
        why = "no valid credentials (the token could not be obtained)"
    if why is not None:
        kc.ledger.not_tested(search.item_id, REQUIREMENTS, why)
        pytest.skip(f"not tested: {why}")
    steps = QUICK_STEPS if kc.settings.quick else STEPS
    settings = shared.settings(kc, steps)
    if kc.settings.quick:
        settings = type(settings)(settings, max_examples=min(settings.max_examples, QUICK_RUNS))
    test = get_state_machine_test(machine_for(kc, search), settings=settings)
    search.finish(shared.seeded(test), REQUIREMENTS)
