"""Running one request on one scenario against a target: set up, send, read back, judge.

The matrix, the Hypothesis properties and the single-clause tests all go through ``run``, so
every kind of test provisions, reproduces and judges the same way.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from conformance.checks import FORMAT_REQUIREMENT, Check, Judgement, flag_changes, judgement
from conformance.client import Exchange
from conformance.control import ControlError
from conformance.matrix import Case
from conformance.model import (
    ERROR,
    Call,
    Credential,
    Expectation,
    Flags,
    KeepCallRequest,
    Outcome,
    Scenario,
    merged,
)
from conformance.oracle import TargetAuth, expect
from conformance.scenarios import Numbering
from conformance.spec import MAX_URL_LENGTH_HINT, P_RESPONSE_TYPE
from conformance.target import Target
from conformance.timeline import elapsed_bound, expect_over

# A change on an upcoming call may wait for the call to start (KC-TYPE-007): the clock is
# moved this far past the latest start before the flags are read again.
START_MARGIN_SECONDS = 2


@dataclass
class Result:
    """What one run of a request produced, with what is needed to reproduce it."""

    scenario: Scenario
    request: KeepCallRequest
    expectation: Expectation
    checks: list[Check] = field(default_factory=list)
    exchange: Exchange | None = None
    setup: str = ""
    skipped: str | None = None
    format: str | None = None
    outcome: Outcome | None = None

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.verdict == "fail"]

    def reproduction(self) -> str:
        """The control call that set the scenario up, then the request, as curl lines."""
        lines = [f"# setup: {self.setup}"] if self.setup else []
        if self.exchange is not None:
            lines.append(self.exchange.curl)
        return "\n".join(lines)


def run(target: Target, scenario: Scenario, request: KeepCallRequest,
        fresh: bool = True, open_key: bool = False, also: tuple[str, ...] = (),
        credentials: list[tuple[str, str]] | None = None) -> Result:
    """Judge ``request`` on ``scenario``; ``fresh`` scenarios need the control protocol.

    ``also`` names requirements a success checks besides the oracle's (the auth cases' own);
    ``credentials`` replaces the target's apiKey/token parameters (a token of the test's own).
    """
    auth = traits(target, open_key)
    calls = scenario.calls if target.control else target.static_calls
    result = Result(scenario, request, _also(expect(request, calls, scenario.controlled, auth),
                                             also))
    if credentials is None:
        credentials = target.credential_params(request, open_key)
    if credentials is None:
        return _skip(result, "the case needs a secret that was not given")
    if fresh and target.control is None:
        return _skip(result, "the scenario needs a control URL (--control-url)")
    try:
        started = time.monotonic()
        if target.control is not None and scenario.calls:
            result.setup = target.control.add(scenario)
        result.exchange = target.send(request, credentials)
        result.expectation = _also(_in_time(result, calls, auth, time.monotonic() - started),
                                   also)
        before = after = None
        if target.control is not None:
            before = {c.call_id: c.flags for c in scenario.calls}
            after = target.control.flags(before)
        _judge(result, before, after)
        if after is not None and before is not None and _maybe_deferred(result, before, after):
            _judge_after_start(target, result, before)
    except ControlError as error:
        return _skip(result, f"control protocol: {error}")
    return result


def traits(target: Target, open_key: bool = False) -> TargetAuth:
    """What the oracle must know of the target: its keys, the spelling its probe found."""
    return TargetAuth(token_required=target.token_required and not open_key,
                      status_spelling=target.status_spelling)


def _in_time(result: Result, calls: Sequence[Call], auth: TargetAuth,
             seconds: float) -> Expectation:
    """The expectation once the time between set-up and answer is allowed for, and a GET
    longer than the notes' 4,000 characters may be refused."""
    expectation = expect_over(result.request, calls, result.scenario.controlled, auth,
                              0.0, elapsed_bound(seconds))
    exchange = result.exchange
    if exchange is None or result.request.method != "GET" or (
            len(exchange.url) <= MAX_URL_LENGTH_HINT):
        return expectation
    refused = Expectation({ERROR: (frozenset({("KC-PARAM-003", "long URL refused")}),)}, (),
                          expectation.formats, {ERROR: ()}, frozenset({"XML"}))
    return merged([expectation, refused])


def _judge(result: Result, before: dict[str, Flags] | None,
           after: dict[str, Flags] | None) -> Judgement:
    assert result.exchange is not None
    found = judgement(result.exchange, result.request, result.expectation, before, after)
    result.checks, result.format, result.outcome = found.checks, found.format, found.outcome
    return found


def _maybe_deferred(result: Result, before: dict[str, Flags],
                    after: dict[str, Flags]) -> bool:
    """A failed case where nothing changed, though a success on an upcoming call was allowed:
    the target may apply it when the call starts."""
    return bool(result.failures and result.expectation.deferrable
                and not flag_changes(before, after))


def _judge_after_start(target: Target, result: Result, before: dict[str, Flags]) -> None:
    """Move the clock past the upcoming calls' starts, read the flags again, judge again."""
    assert target.control is not None
    starts = [c.offset_seconds for c in result.scenario.calls if c.state == "upcoming"]
    if not target.control.advance(max(starts) + START_MARGIN_SECONDS):
        why = "a change on an upcoming call may wait for its start; the target has no clock"
        result.checks = [Check(c.requirement, "not-tested", why) if c.verdict == "fail" else c
                         for c in result.checks]
        return
    target.forget_token()
    _judge(result, before, target.control.flags(before))
    if not result.failures:
        result.checks.append(Check("KC-TYPE-007", "observed", "when the call starts"))


def run_case(target: Target, case: Case, numbering: Numbering) -> Result:
    scenario, request = case.instantiate(numbering)
    if case.part == "open-key" and not target.credentials.open_api_key:
        result = Result(scenario, request, expect(request, scenario.calls, (), traits(target)))
        return _skip(result, "no API key without authentication was given")
    valid = (case.api_key, case.token) == (Credential.VALID, Credential.VALID)
    also = ("KC-AUTH-005",) if case.part == "auth" and valid else ()
    return run(target, scenario, request, fresh=case.needs_fresh_scenario,
               open_key=case.part == "open-key", also=also)


def _also(expectation: Expectation, requirements: tuple[str, ...]) -> Expectation:
    if not requirements:
        return expectation
    because = {o: (*rs, *requirements) if not o.is_error else rs
               for o, rs in expectation.because.items()}
    trace = tuple(dict.fromkeys((*expectation.trace, *requirements)))
    return replace(expectation, because=because, trace=trace)


def _skip(result: Result, why: str) -> Result:
    result.skipped = why
    result.checks = [Check(r, "not-tested", why) for r in result.expectation.trace]
    return result


# Checked on every answer in a format: the rendering clauses.
_FORMAT_REQUIREMENTS = {"XML": ("KC-XML-001", "KC-XML-002", "KC-XML-003", "KC-XML-004"),
                        "HTML": ("KC-RT-010",), "TEXT": ("KC-RT-010",)}


def case_requirements(case: Case) -> list[str]:
    """The requirements a case checks, for its marker: the oracle's trace, the open points its
    readings reach, and the rendering."""
    scenario, request = case.instantiate(Numbering())
    expectation = expect(request, scenario.calls, scenario.controlled)
    valid = (case.api_key, case.token) == (Credential.VALID, Credential.VALID)
    if case.part == "auth" and valid:
        expectation = _also(expectation, ("KC-AUTH-005",))
    ids = {*expectation.trace, "KC-HTTP-004", "KC-RT-008", "KC-FLAG-001", "KC-FLAG-002"}
    ids.update(point for readings in expectation.allowed.values() for reading in readings
               for point, _ in reading)
    for fmt in expectation.formats:
        ids.update(_FORMAT_REQUIREMENTS.get(fmt, ()))
    if ERROR in expectation.allowed and "XML" in expectation.formats:
        ids.add("KC-XML-005")  # judged on every XML error answer (checks._xml_checks)
    if expectation.error_formats:
        ids.add("KC-RT-009")
    if expectation.deferrable:
        ids.add("KC-TYPE-007")
    asked = request.get(P_RESPONSE_TYPE)
    ids.add(FORMAT_REQUIREMENT.get(asked, "KC-RT-005"))
    return sorted(ids)
