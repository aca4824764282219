"""Judging one exchange: the answer and the flags it changed, against the oracle's expectation.

The flags read back through the control protocol are the ground truth of what a request did; the
body's ``code`` is what the target claims. Both are compared with the allowed outcomes, and every
comparison becomes a ``Check`` on one requirement, with the evidence a reader needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
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

METHOD_REQUIREMENT = {"GET": "KC-HTTP-001", "POST": "KC-HTTP-002"}
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
    if _refused(exchange):  # a redirect or a refused method: nothing else to judge
        return checks + [Check(r, "not-tested", "the request was not served")
                         for r in _gating(expectation.trace)]
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
    if status in (405, 501):
        requirement = METHOD_REQUIREMENT[request.method]
        return [Check(requirement, "fail", f"{request.method} answered HTTP {status}")]
    return [Check("KC-HTTP-004", "pass")]


def _refused(exchange: Exchange) -> bool:
    status = exchange.status or 0
    return 300 <= status < 400 or status in (405, 501)


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
    seen = content_type_observation(content_type)
    checks = [Check("KC-RT-007", "observed", f"{expected}: {seen}")]
    if sniffed not in formats:
        checks.append(Check(rt_requirement, "fail", f"asked for {expected}, got {sniffed}: "
                            f"{exchange.body_excerpt(200)}"))
        return checks, _status_claim(exchange)
    if expected == "JSON":  # allowed for responseType=JSON; its shape is documented nowhere
        return [*checks, Check("KC-RT-005", "observed", "JSON")], _status_claim(exchange)
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
    allowed = expectation.allowed
    if before is None or after is None:
        return _claim_only(claim, expectation)
    changes = flag_changes(before, after)
    checks: list[Check] = []
    if claim == "error":
        checks.append(Check("KC-FLAG-001", "fail" if changes else "pass",
                            f"answered with an error but changed {_show(changes)}"
                            if changes else ""))
    if len(changes) > 1:
        checks.append(Check("KC-FLAG-002", "fail", f"one request changed {_show(changes)}"))
        intended = {(o.call_id, o.flag, o.value) for o in expectation.successes}
        if intended & changes:  # the right change, plus side effects
            return checks
        return checks + _fail(_selection(expectation), f"expected {_expected(expectation)}, "
                                                       f"changed {_show(changes)}")
    outcome = _changed_outcome(changes, claim, expectation, before)
    if outcome is None:  # success claimed, nothing changed, no no-op success allowed
        why = f"code 0 but no flag changed; expected {_expected(expectation)}"
        effects = _effects(expectation.successes)
        blamed = effects or expectation.blame([ERROR])
        return checks + _fail(blamed, why) + [Check("KC-XML-004", "fail", why)]
    if outcome not in allowed:
        why = f"expected {_expected(expectation)}, target did: {outcome}"
        checks += _fail(_blame_wrong(outcome, expectation), why)
        if claim == "error" and not outcome.is_error:
            checks.append(Check("KC-XML-004", "fail", f"error code, yet {outcome}"))
        return checks
    checks += [Check(r, "pass") for r in _gating(expectation.blame([outcome]))]
    if claim is not None:
        checks.append(Check("KC-XML-004", "pass"))
    if not outcome.is_error:
        checks.append(Check("KC-FLAG-002", "pass"))
    return checks + observations(allowed[outcome])


def _blame_wrong(outcome: Outcome, expectation: Expectation) -> list[str]:
    """Which clauses an outcome outside the allowed set breaks."""
    successes = expectation.successes
    if outcome.is_error:  # failed where it had to succeed; keeping is the default effect
        blamed = _gating(expectation.blame(successes))
        return [r for r in blamed if r != FLAG_REQUIREMENT[("kept", True)]]
    if not successes:  # succeeded where it had to fail
        return _gating(expectation.blame([ERROR]))
    same_call = [o for o in successes if o.call_id == outcome.call_id]
    if same_call:  # right call, wrong flag or direction
        return _effects(same_call)
    return _selection(expectation)


def _effects(outcomes: Iterable[Outcome]) -> list[str]:
    return sorted({FLAG_REQUIREMENT[(o.flag, o.value)] for o in outcomes if o.flag is not None})


def _selection(expectation: Expectation) -> list[str]:
    """The clauses that choose the call, without those that choose the flag."""
    effects = set(FLAG_REQUIREMENT.values())
    return [r for r in _gating(expectation.blame(expectation.successes)) if r not in effects]


def _gating(requirements: Iterable[str]) -> list[str]:
    return [r for r in requirements if BY_ID[r].level != "OBSERVE"]


def _changed_outcome(changes: set[Change], claim: Claim, expectation: Expectation,
                     before: FlagMap) -> Outcome | None:
    if changes:
        call_id, flag, value = next(iter(changes))
        return Outcome(call_id, flag, value)  # type: ignore[arg-type]
    if claim != "success":
        return ERROR
    # A success that changed nothing is right only if the flag already had its new value.
    return next((o for o in expectation.successes if o.call_id is not None and o.flag
                 and o.call_id in before and before[o.call_id].get(o.flag) == o.value), None)


def _claim_only(claim: Claim, expectation: Expectation) -> list[Check]:
    """Without flags only the body's claim can be judged; which call changed is not tested."""
    errors, successes = [ERROR], expectation.successes
    if claim is None:
        why = "no flags and no claim in the body"
        return [Check(r, "not-tested", why) for r in _gating(expectation.trace)]
    wanted = {"error": ERROR in expectation.allowed, "success": bool(successes)}
    if not wanted[claim]:
        why = f"answered {claim}; expected {_expected(expectation)}"
        blamed = _gating(expectation.blame(successes if claim == "error" else errors))
        return [*_fail(blamed, why), Check("KC-XML-004", "fail", why)]
    if claim == "error":
        checks = [Check(r, "pass") for r in _gating(expectation.blame(errors))]
    else:
        checks = [Check(r, "not-tested", "success claimed; flags need a control URL")
                  for r in _gating(expectation.blame(successes))]
    readings = [r for o, rs in expectation.allowed.items() if (claim == "error") == o.is_error
                for r in rs]
    return checks + observations(tuple(readings))


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
