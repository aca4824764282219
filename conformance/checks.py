"""Judging one exchange: the answer and the flags it changed, against the oracle's expectation.

The flags read back through the control protocol are the ground truth of what a request did; the
body's ``code`` is what the target claims. Both are compared with the allowed outcomes, and every
comparison becomes a ``Check`` on one requirement, with the evidence a reader needs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from conformance.client import Exchange
from conformance.model import ERROR, Expectation, Flags, KeepCallRequest, Outcome, Reading
from conformance.oracle import FLAG_REQUIREMENT
from conformance.requirements import BY_ID
from conformance.spec import FLAGS, P_RESPONSE_TYPE
from conformance.validators import (
    content_type_observation,
    sniff_format,
    validate_html,
    validate_text,
    validate_xml,
)

Verdict = Literal["pass", "fail", "observed", "not-tested"]
Claim = Literal["success", "error"] | None
FlagMap = Mapping[str, Flags]

# The requirement a wrong format breaks, by the responseType asked for.
FORMAT_REQUIREMENT = {None: "KC-RT-001", "XML": "KC-RT-002", "HTML": "KC-RT-003",
                      "TEXT": "KC-RT-004"}


@dataclass(frozen=True)
class Check:
    """One verdict on one requirement, with redacted evidence."""

    requirement: str
    verdict: Verdict
    message: str = ""


def judge(exchange: Exchange, request: KeepCallRequest, expectation: Expectation,
          before: FlagMap | None, after: FlagMap | None) -> list[Check]:
    """All checks for one case. ``before``/``after`` are None when flags cannot be read."""
    if not exchange.ok:
        why = f"no answer: {exchange.error}"
        return [Check(r, "not-tested", why) for r in expectation.trace]
    checks = http_checks(exchange, request)
    format_found, claim = format_checks(exchange, request, expectation)
    checks += format_found
    if claim == "error":
        checks.append(Check("KC-HTTP-005", "observed", f"HTTP {exchange.status}"))
    checks += outcome_checks(claim, expectation, before, after)
    return checks


# --- HTTP -----------------------------------------------------------------------------------
def http_checks(exchange: Exchange, request: KeepCallRequest) -> list[Check]:
    status = exchange.status or 0
    if 300 <= status < 400:
        where = exchange.headers.get("location", "?")
        return [Check("KC-HTTP-004", "fail", f"HTTP {status} redirect to {where}")]
    if status >= 500 or status < 200:
        return [Check("KC-HTTP-004", "fail", f"HTTP {status}: {exchange.body_excerpt(300)}")]
    if request.method == "POST" and status in (405, 501):
        return [Check("KC-HTTP-002", "fail", f"POST answered HTTP {status}")]
    return [Check("KC-HTTP-004", "pass")]


# --- format ---------------------------------------------------------------------------------
def format_checks(exchange: Exchange, request: KeepCallRequest,
                  expectation: Expectation) -> tuple[list[Check], Claim]:
    """Checks of the body's format, and what the body claims (success, error or unknown)."""
    sniffed = sniff_format(exchange.body)
    formats = expectation.formats
    expected = sniffed if sniffed in formats else _preferred(formats)
    asked = request.get(P_RESPONSE_TYPE)
    rt_requirement = FORMAT_REQUIREMENT.get(asked, "KC-RT-005")
    content_type = exchange.headers.get("content-type")
    checks = [Check("KC-RT-007", "observed", f"{expected}: {content_type_observation(content_type)}")]
    if sniffed not in formats:
        checks.append(Check(rt_requirement, "fail", f"asked for {expected}, got {sniffed}: "
                            f"{exchange.body_excerpt(200)}"))
        return checks, _status_claim(exchange)
    if expected == "XML":
        xml_checks, claim = _xml_checks(exchange, rt_requirement)
        return checks + xml_checks, claim
    validate = validate_html if expected == "HTML" else validate_text
    findings = validate(exchange.body, content_type)
    checks += [Check(f.requirement, "fail", f.message) for f in findings]
    if not findings and rt_requirement in BY_ID:
        checks.append(Check(rt_requirement, "pass"))
    return checks, _status_claim(exchange)


def _xml_checks(exchange: Exchange, rt_requirement: str) -> tuple[list[Check], Claim]:
    verdict = validate_xml(exchange.body, exchange.headers.get("content-type"))
    checks = [Check(f.requirement, "fail", f.message) for f in verdict.findings]
    failed = {f.requirement for f in verdict.findings}
    checks += [Check(r, "pass") for r in ("KC-XML-001", "KC-XML-002", "KC-XML-003")
               if r not in failed]
    if rt_requirement in BY_ID:
        checks.append(Check(rt_requirement, "pass"))
    claim: Claim = None
    if verdict.code is not None and verdict.code.strip().lstrip("-").isdigit():
        claim = "success" if int(verdict.code) == 0 else "error"
    if claim == "error":
        checks.append(Check("KC-XML-006", "observed", f"error code {verdict.code}"))
        if "KC-XML-005" not in failed:
            checks.append(Check("KC-XML-005", "pass"))
    if claim == "success" and not 200 <= (exchange.status or 0) < 300:
        checks.append(Check("KC-HTTP-004", "fail", f"code 0 with HTTP {exchange.status}"))
    return checks, claim


def _status_claim(exchange: Exchange) -> Claim:
    """HTML and TEXT bodies do not say how a request ended; a 4xx status does."""
    return "error" if 400 <= (exchange.status or 0) < 500 else None


def _preferred(formats: frozenset[str]) -> str:
    return "XML" if "XML" in formats or not formats else sorted(formats)[0]


# --- outcome and flags ----------------------------------------------------------------------
Change = tuple[str, str, bool]  # (callID, flag, new value)


def flag_changes(before: FlagMap, after: FlagMap) -> set[Change]:
    return {(call_id, flag, after[call_id].get(flag)) for call_id, old in before.items()
            if call_id in after for flag in FLAGS if old.get(flag) != after[call_id].get(flag)}


def outcome_checks(claim: Claim, expectation: Expectation, before: FlagMap | None,
                   after: FlagMap | None) -> list[Check]:
    """Compare what happened (flags, else the body's claim) with the allowed outcomes."""
    trace = [r for r in expectation.trace if BY_ID[r].level != "OBSERVE"]
    allowed = expectation.allowed
    if before is None or after is None:
        return _claim_only(claim, expectation, trace)
    changes = flag_changes(before, after)
    checks: list[Check] = []
    if claim == "error":
        checks.append(Check("KC-FLAG-001", "fail" if changes else "pass",
                            f"answered with an error but changed {_show(changes)}"
                            if changes else ""))
    if len(changes) > 1:
        checks.append(Check("KC-FLAG-002", "fail", f"one request changed {_show(changes)}"))
        return checks + _fail(trace, f"expected {_expected(expectation)}, "
                                     f"changed {_show(changes)}")
    outcome = _changed_outcome(changes, claim, expectation, before)
    if outcome is None:  # success claimed, nothing changed, no no-op success allowed
        flag_reqs = sorted({FLAG_REQUIREMENT[(o.flag, o.value)] for o in expectation.successes
                            if o.flag is not None})
        why = f"code 0 but no flag changed; expected {_expected(expectation)}"
        return checks + _fail(flag_reqs or trace, why) + [Check("KC-XML-004", "fail", why)]
    if outcome not in allowed:
        why = f"expected {_expected(expectation)}, target did: {outcome}"
        checks += _fail(trace, why)
        checks += _wrong_effect(outcome, expectation, why)
        if claim == "error" and outcome.is_error is False:
            checks.append(Check("KC-XML-004", "fail", f"error code, yet {outcome}"))
        return checks
    checks += [Check(r, "pass") for r in trace]
    if claim is not None:
        checks.append(Check("KC-XML-004", "pass"))
    if not outcome.is_error:
        checks.append(Check("KC-FLAG-002", "pass"))
    return checks + observations(allowed[outcome])


def _changed_outcome(changes: set[Change], claim: Claim, expectation: Expectation,
                     before: FlagMap) -> Outcome | None:
    if changes:
        call_id, flag, value = next(iter(changes))
        return Outcome(call_id, flag, value)  # type: ignore[arg-type]
    if claim != "success":
        return ERROR
    # A success that changed nothing is right only if the flag already had its new value.
    return next((o for o in expectation.successes if o.call_id in before and o.flag
                 and before[o.call_id].get(o.flag) == o.value), None)


def _claim_only(claim: Claim, expectation: Expectation, trace: Sequence[str]) -> list[Check]:
    """Without flags only the body's claim can be judged; which call changed is not tested."""
    if claim is None:
        return [Check(r, "not-tested", "no flags and no claim in the body") for r in trace]
    wanted = {"error": ERROR in expectation.allowed, "success": bool(expectation.successes)}
    if not wanted[claim]:
        why = f"answered {claim}; expected {_expected(expectation)}"
        return _fail(trace, why) + [Check("KC-XML-004", "fail", why)]
    checks = [Check(r, "pass") for r in trace if claim == "error" or r.startswith("KC-AUTH")]
    checks += [Check(r, "not-tested", "success claimed; flags need a control URL")
               for r in trace if claim == "success" and not r.startswith("KC-AUTH")]
    readings = [r for o, rs in expectation.allowed.items() if (claim == "error") == o.is_error
                for r in rs]
    return checks + observations(tuple(readings))


def _wrong_effect(outcome: Outcome, expectation: Expectation, why: str) -> list[Check]:
    """A success on the right call with the wrong flag or direction breaks the flag clause."""
    same_call = [o for o in expectation.successes if o.call_id == outcome.call_id]
    return [Check(FLAG_REQUIREMENT[(o.flag, o.value)], "fail", why) for o in same_call
            if o.flag is not None and (o.flag, o.value) != (outcome.flag, outcome.value)]


def observations(readings: Sequence[Reading]) -> list[Check]:
    """The readings every path to the observed outcome agrees on, as observations."""
    if not readings:
        return []
    points = set.intersection(*({p for p, _ in r} for r in readings))
    checks = []
    for point in sorted(points):
        options = {o for r in readings for p, o in r if p == point}
        if len(options) == 1:
            checks.append(Check(point, "observed", options.pop()))
    return checks


def _fail(requirements: Sequence[str], why: str) -> list[Check]:
    return [Check(r, "fail", why) for r in requirements]


def _expected(expectation: Expectation) -> str:
    return " or ".join(sorted(str(o) for o in expectation.allowed))


def _show(changes: set[Change]) -> str:
    return ", ".join(f"{flag}={value} on {call_id}" for call_id, flag, value in sorted(changes))
