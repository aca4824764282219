"""GET and POST: the same keep, sent each way the page allows (KC-HTTP-001..003); and a status
list in the spelling the target takes (KC-STATUS-005/006).

The page says the function is available by GET or POST, not how POST parameters travel; the
run's probe (conformance/wire/dialect.py) found which POST encodings the target serves. POST must
work in at least one of them (KC-HTTP-002); which ones is an observation (KC-HTTP-003).
Likewise a status list must work in one spelling, ``ongoing,next`` or the page's printed
``ongoing, next`` (KC-STATUS-005/006): a target the probe found taking neither fails both.
"""

from __future__ import annotations

import pytest

from conformance.catalog.requirements import RequirementId
from conformance.catalog.spec import ACTION, P_ACTION, P_CALL_ID, P_EXTENSION, P_STATUS
from conformance.domain.model import Check, KeepCallRequest, Method
from conformance.domain.scenarios import build
from conformance.integration.plugin import KeepCallSession
from conformance.running.runner import run

METHODS = (("GET", "KC-HTTP-001"), ("POST", "KC-HTTP-002"))
LISTS: tuple[RequirementId, ...] = ("KC-STATUS-005", "KC-STATUS-006")


@pytest.mark.parametrize(("method", "requirement"), [
    pytest.param(m, r, id=m, marks=pytest.mark.requirement(r, "KC-HTTP-003", "KC-ID-001",
                                                           "KC-ACTION-001"))
    for m, r in METHODS])
def test_keep_by_method(kc: KeepCallSession, method: Method, requirement: RequirementId) -> None:
    scenario = build("ongoing-caller", kc.numbering)
    request = KeepCallRequest(((P_ACTION, ACTION), (P_CALL_ID, scenario.call_id)), method)
    result = run(kc.target, scenario, request, also=(requirement, "KC-ACTION-001"))
    served = kc.dialect.post_served
    if method == "POST" and served is not None:
        shown = ", ".join(served) or "neither a form body nor the query string"
        result.checks.append(Check("KC-HTTP-003", "observed", shown))
        if not served:
            result.checks.append(Check(requirement, "fail", "no POST keep was served, neither "
                                       "as a form body nor in the query string"))
            probes = [kc.dialect.evidence.get(f"POST {w}", "") for w in ("form body",
                                                                          "query string")]
            kc.record(f"methods/{method}", result, "\n".join(
                [result.reproduction(), "# the probes that kept nothing:", *probes]))
            return
    kc.record(f"methods/{method}", result)


@pytest.mark.requirement("KC-STATUS-005", "KC-STATUS-006", "KC-STATUS-001", "KC-EXT-001")
def test_status_list_in_a_spelling(kc: KeepCallSession) -> None:
    """``ongoing,next`` keeps an ongoing call; a probe that found no spelling that does fails
    both list requirements (their failures would otherwise read as a spelling not taken)."""
    scenario = build("ongoing-caller", kc.numbering)
    request = KeepCallRequest(((P_ACTION, ACTION), (P_EXTENSION, scenario.extension),
                               (P_STATUS, "ongoing,next")))
    result = run(kc.target, scenario, request)
    if kc.dialect.spellings == ():
        for requirement in LISTS:
            result.checks.append(Check(requirement, "fail", "no status list was served, "
                                       "neither as ongoing,next nor as ongoing, next"))
        probes = [kc.dialect.evidence.get(f"status={s}", "") for s in ("ongoing,next",
                                                                       "ongoing, next")]
        kc.record("methods/status-list", result, "\n".join(
            [result.reproduction(), "# the probes that kept nothing:", *probes]))
        return
    kc.record("methods/status-list", result)
