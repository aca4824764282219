"""The nouns every layer shares: calls, scenarios, requests, outcomes.

Plain frozen dataclasses with no behaviour beyond conversions, so the oracle, the generators, the
provisioning and the reference server all speak the same language without importing each other.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Literal, NamedTuple

from conformance.catalog.requirements import RequirementId
from conformance.catalog.spec import FLAGS, CallState, Flag

Method = Literal["GET", "POST"]
Params = tuple[tuple[str, str], ...]


class Credential(StrEnum):
    """How a secret is presented in a request: the real one, none, or a wrong one."""

    VALID = "valid"
    MISSING = "missing"
    INVALID = "invalid"


Verdict = Literal["pass", "fail", "observed", "not-tested"]


class Cause(StrEnum):
    """Why a check failed, said where it is made, so failures group by it (``causes``) and
    never by their wording. The value is what a reader of a group sees."""

    DEFECT = "what the clause requires does not hold"  # the clause's own check
    # The outcome the flags tell, against the allowed ones: one bug shows all of these.
    ERROR_FOR_CHANGE = "an error where a change was expected"
    CHANGE_FOR_ERROR = "a change where an error was expected"
    OTHER_CHANGE = "another change than expected"
    NO_CHANGE = "a success that changed no flag where a change was expected"
    SIDE_EFFECTS = "one request changed several flags"
    CLAIM_CONTRADICTED = "the code contradicts what the flags tell"
    # The answer itself.
    NO_ANSWER = "no whole answer"
    DROPPED = "requests dropped without an answer"
    HTTP_STATUS = "an HTTP status that is no answer"
    REDIRECT = "a redirect instead of an answer"
    METHOD_REFUSED = "the method is not served"
    WRONG_FORMAT = "an answer in another format than asked for"


@dataclass(frozen=True)
class Check:
    """One verdict on one requirement, with redacted evidence (a finding, an observation, or
    a pass); the ledger folds them into a verdict per requirement."""

    requirement: RequirementId
    verdict: Verdict
    message: str = ""
    cause: Cause = Cause.DEFECT  # of a failure; set where the check is made


@dataclass(frozen=True)
class Flags:
    kept: bool = False
    protected: bool = False
    recording: bool = False

    def get(self, flag: Flag) -> bool:
        return bool(getattr(self, flag))

    def with_flag(self, flag: Flag, value: bool) -> Flags:
        return replace(self, **{flag: value})

    @classmethod
    def all(cls, value: bool) -> Flags:
        return cls(value, value, value)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Flags:
        return cls(**{f: bool(data.get(f, False)) for f in FLAGS})

    def to_json(self) -> dict[str, bool]:
        return {f: self.get(f) for f in FLAGS}


@dataclass(frozen=True)
class Call:
    """A call as the control protocol describes it (times relative to the target's clock)."""

    call_id: str
    caller: str
    called: str
    state: CallState
    offset_seconds: int
    flags: Flags = Flags()

    def parties(self) -> tuple[str, str]:
        return (self.caller, self.called)

    def to_control(self) -> dict[str, Any]:
        return {"callID": self.call_id, "caller": self.caller, "called": self.called,
                "state": self.state, "offsetSeconds": self.offset_seconds, **self.flags.to_json()}


@dataclass(frozen=True)
class Scenario:
    """The calls a case needs on the target, and the number and call the case is about."""

    name: str
    calls: tuple[Call, ...]
    extension: str
    call_id: str
    controlled: tuple[str, ...] = ()

    def call(self, call_id: str) -> Call | None:
        return next((c for c in self.calls if c.call_id == call_id), None)

    def to_control(self) -> dict[str, Any]:
        return {"calls": [c.to_control() for c in self.calls],
                "controlledExtensions": list(self.controlled)}


@dataclass(frozen=True)
class KeepCallRequest:
    """One API request. Secrets are symbolic: the client puts the real ones in when sending."""

    params: Params
    method: Method = "GET"
    api_key: Credential = Credential.VALID
    token: Credential = Credential.VALID
    post_in_query: bool = False

    def get(self, name: str) -> str | None:
        """The first value of ``name``, or None."""
        return next((v for k, v in self.params if k == name), None)

    def values(self, name: str) -> tuple[str, ...]:
        return tuple(v for k, v in self.params if k == name)


@dataclass(frozen=True)
class Outcome:
    """What a request did: an error (nothing changed), ``flag`` set to ``value`` on one call,
    or a pending keep (success on no call yet: ``status=next`` before the call is known)."""

    call_id: str | None = None
    flag: Flag | None = None
    value: bool = True
    pending: bool = False

    @property
    def is_error(self) -> bool:
        return self.call_id is None and not self.pending

    def __str__(self) -> str:
        if self.pending:
            return "pending keep (success, no flag changed yet)"
        if self.call_id is None:
            return "error"
        verb = "set" if self.value else "clear"
        return f"{verb} {self.flag} on {self.call_id}"


ERROR = Outcome()
PENDING = Outcome(pending=True)



class Choice(NamedTuple):
    """One open point's reading on one path: the OBSERVE requirement, the option taken, and
    the aspect of the requirement met (one requirement may cover several points: the three
    ``unmark`` aspects of KC-UNMARK-004 must not be confused)."""

    requirement: RequirementId
    option: str
    aspect: str = ""

    @property
    def point(self) -> tuple[RequirementId, str]:
        return (self.requirement, self.aspect)


Reading = frozenset[Choice]


def decisive(readings: Sequence[Reading]) -> dict[tuple[RequirementId, str], str]:
    """The points (requirement, aspect) that every combination in ``readings`` reads one
    same way: what an outcome reached by exactly these combinations tells of the target. A
    point some combination does not meet, or meets another way, tells nothing."""
    if not readings:
        return {}
    points = set.intersection(*({c.point for c in r} for r in readings))
    options: dict[tuple[RequirementId, str], set[str]] = {}
    for reading in readings:
        for choice in reading:
            if choice.point in points:
                options.setdefault(choice.point, set()).add(choice.option)
    return {point: found.pop() for point, found in options.items() if len(found) == 1}


@dataclass(frozen=True)
class Expectation:
    """What the spec allows for one request against one scenario.

    ``allowed`` maps each allowed outcome to the combinations of readings (OBSERVE requirement
    id, reading) that lead to it, so an observed outcome tells which reading the target took.
    ``trace`` lists the requirements that decide the outcome; ``formats`` the allowed formats;
    ``error_formats`` the further formats an error may come in (XML for errors raised before
    the action runs); ``deferrable`` the successes on upcoming calls, which a target may apply
    only when the call starts.
    """

    allowed: dict[Outcome, tuple[Reading, ...]]
    trace: tuple[RequirementId, ...]
    formats: frozenset[str]
    because: dict[Outcome, tuple[RequirementId, ...]] = field(default_factory=dict)
    error_formats: frozenset[str] = frozenset()
    deferrable: frozenset[Outcome] = frozenset()

    def blame(self, outcomes: Iterable[Outcome]) -> tuple[RequirementId, ...]:
        """The requirements that decided ``outcomes``: what a target doing otherwise breaks."""
        return tuple(dict.fromkeys(r for o in outcomes for r in self.because.get(o, ())))

    @property
    def outcomes(self) -> frozenset[Outcome]:
        return frozenset(self.allowed)

    @property
    def always_error(self) -> bool:
        return self.outcomes == {ERROR}

    @property
    def successes(self) -> frozenset[Outcome]:
        """The allowed successes that change a flag (a pending keep changes none)."""
        return frozenset(o for o in self.allowed if o.call_id is not None)


def merged(expectations: Iterable[Expectation]) -> Expectation:
    """The union of what several expectations allow (the calls as they may stand in time)."""
    allowed: dict[Outcome, tuple[Reading, ...]] = {}
    because: dict[Outcome, tuple[RequirementId, ...]] = {}
    trace: dict[RequirementId, None] = {}
    formats: set[str] = set()
    error_formats: set[str] = set()
    deferrable: set[Outcome] = set()
    for e in expectations:
        for outcome, readings in e.allowed.items():
            allowed[outcome] = (*allowed.get(outcome, ()), *readings)
        for outcome, reqs in e.because.items():
            because[outcome] = tuple(dict.fromkeys((*because.get(outcome, ()), *reqs)))
        trace.update(dict.fromkeys(e.trace))
        formats |= e.formats
        error_formats |= e.error_formats
        deferrable |= e.deferrable
    return Expectation(allowed, tuple(trace), frozenset(formats), because,
                       frozenset(error_formats - formats), frozenset(deferrable))
