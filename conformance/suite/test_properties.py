"""Property-based tests: generated requests on generated scenarios, judged by the oracle.

The matrix covers the values the page names; these properties look for what nobody listed
(odd values, odd orders, shared and prefix-related numbers, offsets next to the 60 s window).
Every example goes through ``runner.run`` like a matrix case, so the properties are the
matrix's checks (format, no 5xx, code and flags against the oracle) on generated input. A
failure is shrunk by Hypothesis and reported once, as the control call that set its scenario
up and one curl line. See docs/PROPERTIES.md.
"""

from __future__ import annotations

from collections.abc import Callable

import hypothesis
import pytest
from hypothesis.strategies import SearchStrategy

from conformance.domain.model import Scenario
from conformance.domain.scenario_plans import NO_CALLS, Instance
from conformance.domain.strategies import (
    Example,
    RequestPlan,
    general_examples,
    neighbour_examples,
    prefix_examples,
    scenario_free_requests,
    window_examples,
)
from conformance.integration.plugin import KeepCallSession
from conformance.integration.search import ERRORS, FLAGS, FORM, start
from conformance.running.runner import run

# Free generation, then directed families: the shapes a deviation needs to show (a number
# that is a prefix of another, a call just beyond the minute, neighbours on one number) are
# too rare in free generation to be found reliably, so each family gets examples of its own.
# (family, its strategy, the share of the remaining property budget it may spend)
FAMILIES = (("free", general_examples, 0.4), ("prefix", prefix_examples, 0.2),
            ("window", window_examples, 0.25), ("neighbours", neighbour_examples, 0.34))


@pytest.mark.parallel
@pytest.mark.parametrize(("family", "share"), [pytest.param(
    strategy, share, id=name, marks=pytest.mark.requirement(*FORM, *ERRORS, *FLAGS))
    for name, strategy, share in FAMILIES])
def test_generated_requests_on_generated_scenarios(
        kc: KeepCallSession, request: pytest.FixtureRequest,
        family: Callable[[], SearchStrategy[Example]], share: float) -> None:
    """Each example: fresh calls through the control protocol, one request, flags read back."""
    search, shared = start(kc, request, share)
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


@pytest.mark.parallel
@pytest.mark.requirement(*FORM, *ERRORS)
def test_generated_requests_are_answered_in_form(kc: KeepCallSession,
                                                 request: pytest.FixtureRequest) -> None:
    """Needs no control URL: requests on calls nobody set up (or a profile's static calls),
    judged on the answer alone; with a control URL the flags are read back as well."""
    search, shared = start(kc, request, 0.25)
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
