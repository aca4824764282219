"""Running one request on one scenario against a target: set up, send, read back, judge.

The matrix, the Hypothesis properties and the single-clause tests all go through ``run``, so
every kind of test provisions, reproduces and judges the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from conformance.checks import FORMAT_REQUIREMENT, Check, judge
from conformance.client import Exchange
from conformance.control import ControlError
from conformance.matrix import Case
from conformance.model import ERROR, Credential, Expectation, KeepCallRequest, Scenario
from conformance.oracle import TargetAuth, expect
from conformance.scenarios import Numbering
from conformance.spec import P_RESPONSE_TYPE
from conformance.target import Target


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
    auth = TargetAuth(token_required=target.token_required and not open_key)
    calls = scenario.calls if target.control else target.static_calls
    expectation = _also(expect(request, calls, scenario.controlled, auth), also)
    result = Result(scenario, request, expectation)
    if credentials is None:
        credentials = target.credential_params(request, open_key)
    if credentials is None:
        return _skip(result, "the case needs a secret that was not given")
    if fresh and target.control is None:
        return _skip(result, "the scenario needs a control URL (--control-url)")
    try:
        if target.control is not None and scenario.calls:
            result.setup = target.control.add(scenario)
        result.exchange = target.send(request, credentials)
        before = after = None
        if target.control is not None:
            before = {c.call_id: c.flags for c in scenario.calls}
            after = target.control.flags(before)
    except ControlError as error:
        return _skip(result, f"control protocol: {error}")
    result.checks = judge(result.exchange, request, expectation, before, after)
    return result


def run_case(target: Target, case: Case, numbering: Numbering) -> Result:
    scenario, request = case.instantiate(numbering)
    if case.part == "open-key" and not target.credentials.open_api_key:
        result = Result(scenario, request, expect(request, scenario.calls))
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


def requirements_of(checks: Sequence[Check]) -> list[str]:
    return sorted({c.requirement for c in checks})


# Checked on every answer in a format: the rendering clauses.
_FORMAT_REQUIREMENTS = {"XML": ("KC-XML-001", "KC-XML-002", "KC-XML-003", "KC-XML-004"),
                        "HTML": (), "TEXT": ()}


def case_requirements(case: Case) -> list[str]:
    """The requirements a case checks, for its marker: the oracle's trace and the rendering."""
    scenario, request = case.instantiate(Numbering())
    expectation = expect(request, scenario.calls, scenario.controlled)
    valid = (case.api_key, case.token) == (Credential.VALID, Credential.VALID)
    if case.part == "auth" and valid:
        expectation = _also(expectation, ("KC-AUTH-005",))
    ids = {*expectation.trace, "KC-HTTP-004", "KC-FLAG-001", "KC-FLAG-002"}
    for fmt in expectation.formats:
        ids.update(_FORMAT_REQUIREMENTS.get(fmt, ()))
    if ERROR in expectation.allowed and "XML" in expectation.formats:
        ids.add("KC-XML-005")  # judged on every XML error answer (checks._xml_checks)
    asked = request.get(P_RESPONSE_TYPE)
    ids.add(FORMAT_REQUIREMENT.get(asked, "KC-RT-005"))
    return sorted(ids)
