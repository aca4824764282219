"""What passing time does to an upcoming call: open (control protocol 1.1), so observed only.

A call set up to start in a few seconds, the clock moved past its start, then a keep by its
number with ``status=ongoing`` and, failing that, ``status=next``: which one finds it tells
whether the target lets the call begin or keeps it as a late upcoming call (KC-TIME-001).
"""

from __future__ import annotations

from typing import NoReturn

import pytest

from conformance.catalog.spec import ACTION, P_ACTION, P_EXTENSION, P_STATUS
from conformance.domain.model import (
    ERROR,
    Call,
    Check,
    Expectation,
    Flags,
    KeepCallRequest,
    Scenario,
)
from conformance.integration.plugin import KeepCallSession
from conformance.running.runner import Result
from conformance.wire.control import ControlError

STARTS_IN, ADVANCE = 5, 15
# (status sent, the reading a keep it finds shows)
PROBES = (("ongoing", "becomes ongoing"), ("next", "stays upcoming"))


@pytest.mark.requirement("KC-TIME-001")
def test_what_passing_time_does_to_an_upcoming_call(kc: KeepCallSession) -> None:
    target, numbering = kc.target, kc.numbering
    if target.control is None:
        _untested(kc, "needs a control URL")
    if target.clock_pinned is not None:
        _untested(kc, target.clock_pinned)
    number = numbering.number()
    call = Call(numbering.call_id(), number, numbering.external(), "upcoming", STARTS_IN)
    scenario = Scenario("upcoming-start-passed", (call,), number, call.call_id, (number,))
    setup = target.control.add(scenario)
    try:
        clock = target.control.advance(ADVANCE)
    except ControlError as error:
        _untested(kc, f"control protocol: {error}")
    if not clock:
        _untested(kc, "the target's control has no clock")
    target.forget_token()
    reading, exchange = "found by neither status", None
    for status, shows in PROBES:
        request = KeepCallRequest(((P_ACTION, ACTION), (P_EXTENSION, number), (P_STATUS, status)))
        credentials = target.credential_params(request)
        if credentials is None:
            break
        exchange = target.send(request, credentials)
        if target.control.flags({call.call_id: Flags()})[call.call_id].kept:
            reading = shows
            break
    result = Result(scenario, KeepCallRequest(()), Expectation({ERROR: ()}, (), frozenset()),
                    [Check("KC-TIME-001", "observed", reading)], exchange, setup)
    kc.record("time/upcoming-start-passed", result)


def _untested(kc: KeepCallSession, why: str) -> NoReturn:
    kc.ledger.not_tested("time", ("KC-TIME-001",), why)
    pytest.skip(f"not tested: {why}")
