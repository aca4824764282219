"""The calls a static profile lists, for targets without a control URL.

Such a target cannot be given fresh calls, so the matrix's lookups are "not tested" there; the
calls the profile says exist are what can still be looked up: by callID, and by number with a
status that finds the call's state. Each keep is taken back with unmark=1 straight after, so
the target is left as it was found. The flags cannot be read, so only the answers are judged.
"""

from __future__ import annotations

import pytest

from conformance.catalog.spec import (
    ACTION,
    P_ACTION,
    P_CALL_ID,
    P_EXTENSION,
    P_STATUS,
    P_UNMARK,
    STATUS_FINDING,
    UNMARK_VALUE,
)
from conformance.domain.model import Call, Check, KeepCallRequest, Scenario
from conformance.integration.plugin import KeepCallSession
from conformance.running.runner import Result, run

REQUIREMENTS = ("KC-ID-001", "KC-EXT-001", "KC-EXT-002", "KC-TYPE-001", "KC-UNMARK-001")


def _lookups(call: Call) -> list[tuple[tuple[str, str], ...]]:
    by_number = [((P_EXTENSION, number), (P_STATUS, STATUS_FINDING[call.state][0]))
                 for number in call.parties()]
    return [((P_CALL_ID, call.call_id),), *by_number]


@pytest.mark.requirement(*REQUIREMENTS)
def test_profile_calls_are_found(kc: KeepCallSession) -> None:
    target = kc.target
    if target.control is not None or not target.static_calls:
        pytest.skip("not needed: no static calls, or the target has a control URL")
    checks: list[Check] = []
    failed: Result | None = None
    last: Result | None = None
    for call in target.static_calls:
        for lookup in _lookups(call):
            for unmark in ((), ((P_UNMARK, UNMARK_VALUE),)):
                request = KeepCallRequest(((P_ACTION, ACTION), *lookup, *unmark))
                scenario = Scenario("profile", (), call.caller, call.call_id)
                last = run(target, scenario, request, fresh=False)
                checks += last.checks
                if failed is None and last.failures:
                    failed = last
    shown = failed or last
    assert shown is not None
    shown.checks = checks
    kc.record("profile-calls", shown)
