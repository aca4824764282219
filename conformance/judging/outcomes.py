"""The flags a request changed, against the outcomes the oracle allows.

The flags read back through the control protocol are the ground truth of what a request did;
the body's ``code`` is what the target claims (``Claim``). Both are compared with the allowed
outcomes here: a change no outcome allows, a claim the flags contradict, the readings every
path to the observed outcome agrees on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

from conformance.catalog.requirements import BY_ID, RequirementId
from conformance.catalog.spec import FLAGS
from conformance.domain.model import (
    ERROR,
    PENDING,
    Cause,
    Check,
    Expectation,
    Flags,
    Outcome,
    Reading,
    decisive,
)
from conformance.domain.oracle import FLAG_REQUIREMENT

Claim = Literal["success", "error"] | None
FlagMap = Mapping[str, Flags]

Change = tuple[str, str, bool]  # (callID, flag, new value)


def flag_changes(before: FlagMap, after: FlagMap) -> set[Change]:
    return {(call_id, flag, after[call_id].get(flag)) for call_id, old in before.items()
            if call_id in after for flag in FLAGS if old.get(flag) != after[call_id].get(flag)}


def outcome_checks(claim: Claim, expectation: Expectation, before: FlagMap | None,
                   after: FlagMap | None) -> tuple[list[Check], Outcome | None]:
    """Compare what happened (flags, else the body's claim) with the allowed outcomes; the
    outcome judged, when the flags tell it."""
    allowed = expectation.allowed
    if before is None or after is None:
        return _claim_only(claim, expectation), None
    changes = flag_changes(before, after)
    checks: list[Check] = []
    if claim == "error":
        checks.append(Check("KC-FLAG-001", "fail" if changes else "pass",
                            f"answered with an error but changed {_show(changes)}"
                            if changes else ""))
    if len(changes) > 1:
        checks.append(Check("KC-FLAG-002", "fail", f"one request changed {_show(changes)}",
                            Cause.SIDE_EFFECTS))
        intended = {(o.call_id, o.flag, o.value) for o in expectation.successes}
        if intended & changes:  # the right change, plus side effects
            return checks, None
        return checks + _fail(_selection(expectation), f"expected {_expected(expectation)}, "
                              f"changed {_show(changes)}", Cause.OTHER_CHANGE), None
    outcome = _changed_outcome(changes, claim, expectation, before)
    if outcome is None:  # success claimed, nothing changed, no no-op success allowed
        why = f"code 0 but no flag changed; expected {_expected(expectation)}"
        effects = _effects(expectation.successes)
        blamed = effects or gating(expectation.blame([ERROR]))
        return checks + _fail(blamed, why, Cause.NO_CHANGE) + _claim_contradicted(
            blamed, why), None
    if outcome not in allowed:
        why = f"expected {_expected(expectation)}, target did: {outcome}"
        blamed = _blame_wrong(outcome, expectation)
        checks += _fail(blamed, why, _wrong_kind(outcome, expectation))
        if claim == "error" and not outcome.is_error:
            checks += _claim_contradicted(blamed, f"error code, yet {outcome}")
        return checks, outcome
    checks += [Check(r, "pass") for r in gating(expectation.blame([outcome]))]
    if claim is not None:
        checks.append(Check("KC-XML-004", "pass"))
    if outcome.call_id is not None:
        checks.append(Check("KC-FLAG-002", "pass"))
    return checks + observations(allowed[outcome]), outcome


def _claim_contradicted(blamed: Sequence[RequirementId], why: str) -> list[Check]:
    """The code contradicts the flags: KC-XML-004, but only where a MUST decides what should
    have happened (a SHOULD deviation must not fail a MUST through its code)."""
    return [Check("KC-XML-004", "fail", why, Cause.CLAIM_CONTRADICTED)] if any(
        BY_ID[r].level == "MUST" for r in blamed) else []


def _wrong_kind(outcome: Outcome, expectation: Expectation) -> Cause:
    """The kind of wrong outcome, for the reader of its group."""
    if outcome.is_error:
        return Cause.ERROR_FOR_CHANGE
    return Cause.OTHER_CHANGE if expectation.successes else Cause.CHANGE_FOR_ERROR


def _blame_wrong(outcome: Outcome, expectation: Expectation) -> list[RequirementId]:
    """Which clauses an outcome outside the allowed set breaks."""
    successes = expectation.successes
    if outcome.is_error:  # failed where it had to succeed; keeping is the default effect
        blamed = gating(expectation.blame(successes))
        return [r for r in blamed if r != FLAG_REQUIREMENT[("kept", True)]]
    if not successes:  # succeeded where it had to fail
        return gating(expectation.blame([ERROR, PENDING]))
    same_call = [o for o in successes if o.call_id == outcome.call_id]
    if same_call:  # right call, wrong flag or direction
        return _effects(same_call)
    return _selection(expectation)


def _effects(outcomes: Iterable[Outcome]) -> list[RequirementId]:
    return sorted({FLAG_REQUIREMENT[(o.flag, o.value)] for o in outcomes if o.flag is not None})


def _selection(expectation: Expectation) -> list[RequirementId]:
    """The clauses that choose the call, without those that choose the flag."""
    effects = set(FLAG_REQUIREMENT.values())
    return [r for r in gating(expectation.blame(expectation.successes)) if r not in effects]


def gating(requirements: Iterable[RequirementId]) -> list[RequirementId]:
    return [r for r in requirements if BY_ID[r].level != "OBSERVE"]


def _changed_outcome(changes: set[Change], claim: Claim, expectation: Expectation,
                     before: FlagMap) -> Outcome | None:
    """What the flags say the request did. Nothing changed: an error, a pending keep, or a
    success whose flag already had its new value, whichever the claim and the oracle allow."""
    if changes:
        call_id, flag, value = next(iter(changes))
        return Outcome(call_id, flag, value)  # type: ignore[arg-type]
    no_op = next((o for o in expectation.successes if o.call_id is not None and o.flag
                  and o.call_id in before and before[o.call_id].get(o.flag) == o.value), None)
    allowed = expectation.allowed
    if claim == "error":
        return ERROR
    if claim == "success":
        return no_op or (PENDING if PENDING in allowed else None)
    if ERROR in allowed:
        return ERROR
    return no_op or (PENDING if PENDING in allowed else ERROR)


def _claim_only(claim: Claim, expectation: Expectation) -> list[Check]:
    """Without flags only the body's claim can be judged; which call changed is not tested."""
    errors = [ERROR]
    successes = [*expectation.successes, *(o for o in expectation.allowed if o.pending)]
    if claim is None:
        why = "no flags and no claim in the body"
        return [Check(r, "not-tested", why) for r in gating(expectation.trace)]
    wanted = {"error": ERROR in expectation.allowed, "success": bool(successes)}
    if not wanted[claim]:
        why = f"answered {claim}; expected {_expected(expectation)}"
        blamed = gating(expectation.blame(successes if claim == "error" else errors))
        kind = Cause.ERROR_FOR_CHANGE if claim == "error" else Cause.CHANGE_FOR_ERROR
        return [*_fail(blamed, why, kind), *_claim_contradicted(blamed, why)]
    if claim == "error":
        checks = [Check(r, "pass") for r in gating(expectation.blame(errors))]
    else:
        checks = [Check(r, "not-tested", "success claimed; flags need a control URL")
                  for r in gating(expectation.blame(successes))]
    readings = [r for o, rs in expectation.allowed.items() if (claim == "error") == o.is_error
                for r in rs]
    return checks + observations(tuple(readings))


def observations(readings: Sequence[Reading]) -> list[Check]:
    """The readings every path to the observed outcome agrees on, as observations (one per
    aspect of a requirement)."""
    return [Check(requirement, "observed", option)
            for (requirement, _), option in sorted(decisive(readings).items())]


def _fail(requirements: Sequence[RequirementId], why: str, cause: Cause) -> list[Check]:
    return [Check(r, "fail", why, cause) for r in requirements]


def _expected(expectation: Expectation) -> str:
    return " or ".join(sorted(str(o) for o in expectation.allowed))


def _show(changes: set[Change]) -> str:
    return ", ".join(f"{flag}={value} on {call_id}" for call_id, flag, value in sorted(changes))
