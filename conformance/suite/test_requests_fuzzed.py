"""Fuzzed requests: any text or bytes in any parameter, in any shape of request.

Where a property of test_properties sends values people might send, this one sends what a
generic fuzzer would (conformance/domain/fuzzing.py): control characters, NUL, characters outside
the BMP, bytes that are not UTF-8, 10,000 characters, names without ``=``, in multipart,
Latin-1, split, HEAD, OPTIONS and mislabelled requests. A plain GET or POST is judged by the
oracle like a matrix case; any other shape by what holds for every input (no 5xx, an answer,
well-formed and valid XML, no flag changed by an error, only allowed flags by a success). A
failure shrinks to a minimal request, reported with the curl line that sends its bytes.
"""

from __future__ import annotations

import hypothesis
import pytest

from conformance.catalog.requirements import RequirementId
from conformance.domain.fuzzing import CORPUS, FuzzPlan, fuzz_plans
from conformance.integration.plugin import KeepCallSession
from conformance.integration.search import ERRORS, FLAGS, FORM, start
from conformance.running.runner import run

REQUIREMENTS: tuple[RequirementId, ...] = (*FORM, *ERRORS, *FLAGS, "KC-HTTP-006")
SHARE = 0.5  # of the property budget left when it starts (the stateful test runs after it)
EXAMPLES_FACTOR = 2  # one request per example: twice the examples of the other properties


@pytest.mark.parallel
@pytest.mark.requirement(*REQUIREMENTS)
def test_fuzzed_requests_keep_the_invariants(kc: KeepCallSession,
                                             request: pytest.FixtureRequest) -> None:
    """Each example: fresh calls, one fuzzed request, flags read back."""
    search, shared = start(kc, request, SHARE)
    if kc.target.control is None:
        why = "fuzzed requests on fresh calls need a control URL (--control-url)"
        kc.ledger.not_tested(search.item_id, REQUIREMENTS, why)
        pytest.skip(f"not tested: {why}")

    settings = shared.settings(kc)
    settings = hypothesis.settings(settings, max_examples=settings.max_examples * EXAMPLES_FACTOR)

    @settings
    @hypothesis.given(fuzz_plans())
    def property_(plan: FuzzPlan) -> None:
        if search.active:
            scenario, keepcall = plan.example.instantiate(kc.numbering)
            search.check(run(kc.target, scenario, keepcall, fresh=True, fuzz=plan))

    for plan in CORPUS:  # explicit examples run first, whatever max_examples allows
        property_ = hypothesis.example(plan)(property_)

    search.finish(shared.seeded(property_), REQUIREMENTS)
