"""GET and POST: the same keep, sent each way the page allows (KC-HTTP-001..003)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from conformance.checks import Check
from conformance.model import KeepCallRequest
from conformance.plugin import KeepCallSession
from conformance.runner import run
from conformance.scenarios import build
from conformance.spec import ACTION, P_ACTION, P_CALL_ID

# (id, method, parameters in the query string, requirement)
WAYS = (
    ("get-query", "GET", True, "KC-HTTP-001"),
    ("post-form", "POST", False, "KC-HTTP-002"),
    ("post-query", "POST", True, "KC-HTTP-003"),
)


@pytest.mark.parametrize(("method", "in_query", "requirement"),
                         [pytest.param(m, q, r, id=i,
                                       marks=pytest.mark.requirement(r, "KC-ID-001",
                                                                     "KC-ACTION-001"))
                          for i, m, q, r in WAYS])
def test_keep_by_method(kc: KeepCallSession, method: str, in_query: bool,
                        requirement: str) -> None:
    scenario = build("ongoing-caller", kc.numbering)
    request = KeepCallRequest(((P_ACTION, ACTION), (P_CALL_ID, scenario.call_id)),
                              method)  # type: ignore[arg-type]
    request = replace(request, post_in_query=in_query and method == "POST")
    smoke = ("KC-ACTION-001",) if requirement != "KC-HTTP-003" else ()
    result = run(kc.target, scenario, request, also=(requirement, *smoke))
    if requirement == "KC-HTTP-003" and not result.skipped:
        # An open point: a target may read POST parameters from the body only.
        served = not result.failures
        result.checks = [Check(requirement, "observed", "served" if served else "not served")]
    kc.record(f"methods/{method}-{'query' if in_query else 'form'}", result)
