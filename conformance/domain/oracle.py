"""The oracle: what the spec allows for a request against the calls a target holds.

A pure function. The page is silent in places (the OBSERVE requirements); instead of picking one
reading, the evaluator asks a ``_Chooser`` at each open point, and ``expect`` runs it once per
combination of readings that the request actually reaches. The union of the outcomes is what a
conformant target may do, and each outcome remembers which readings lead to it, so an observed
answer tells which reading the target took. docs/SEMANTICS.md is the same reading in prose.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from conformance.catalog.requirements import RequirementId
from conformance.catalog.spec import (
    DEFAULT_RESPONSE_TYPE,
    LOOKUP_STATE,
    NEXT_WINDOW_SECONDS,
    P_CALL_ID,
    P_EXTENSION,
    P_STATUS,
    STATUS_LOOKUPS,
    Flag,
    Lookup,
)
from conformance.domain.chooser import Chooser
from conformance.domain.model import (
    ERROR,
    PENDING,
    Call,
    Expectation,
    KeepCallRequest,
    Outcome,
    Reading,
)
from conformance.domain.open_points import (
    ALREADY_SET,
    BOTH_IDS,
    NEXT_NO_CALL,
    NORMALIZED,
    NOT_IN_PROGRESS,
    NOT_STARTED,
    SEVERAL_LAST_NEXT,
    STATUS_WITH_CALL_ID,
    TIE,
    UNCONTROLLED,
    UNLISTED_WITH_CALL_ID,
    WINDOW_EDGE,
)
from conformance.domain.open_points import (
    OpenPoint as OpenPoint,
)
from conformance.domain.parameters import Failed, Parameters
from conformance.domain.parameters import TargetAuth as TargetAuth

# The requirement that a success with this (flag, value) fulfils.
FLAG_REQUIREMENT: dict[tuple[Flag, bool], RequirementId] = {
    ("kept", True): "KC-TYPE-001",
    ("recording", True): "KC-TYPE-002",
    ("protected", True): "KC-TYPE-003",
    ("kept", False): "KC-UNMARK-001",
    ("recording", False): "KC-UNMARK-002",
    ("protected", False): "KC-UNMARK-003",
}

# The requirement behind each status value (what a wrong answer to it breaks).
STATUS_REQUIREMENT: dict[str, RequirementId] = {
    "ongoing": "KC-STATUS-001",
    "next": "KC-STATUS-002",
    "last": "KC-STATUS-004",
    "ongoing,next": "KC-STATUS-005",
    "last,ongoing": "KC-STATUS-006",
}
# A target whose key needs a token, its status spelling not probed: ``expect``'s default.
ANY_TARGET = TargetAuth()
# Matched as caller, as called party.
PARTY_REQUIREMENT: tuple[RequirementId, ...] = ("KC-EXT-001", "KC-EXT-002")


class _Pending(Exception):
    """``status=next`` found no call and the target may register a pending keep."""



@dataclass
class _Evaluation(Parameters):
    """One request evaluated under one combination of readings: its parameters read
    (parameters.py), then the call looked up and the change applied."""

    calls: Sequence[Call] = ()
    controlled: frozenset[str] = frozenset()
    before_action: bool = False
    upcoming: bool = False

    # --- lookup ---------------------------------------------------------------------------
    def in_window(self, call: Call) -> bool:
        if call.offset_seconds != NEXT_WINDOW_SECONDS:
            return call.offset_seconds < NEXT_WINDOW_SECONDS
        return self.choose(WINDOW_EDGE) == (
            "inside the window")

    def matches(self, call: Call, lookup: Lookup) -> bool:
        if call.state != LOOKUP_STATE[lookup]:
            return False
        return lookup != "next" or self.in_window(call)

    def by_call_id(self, call_id: str) -> Call:
        status = self.value(P_STATUS)
        point = STATUS_WITH_CALL_ID if status is not None and _listed(status) else (
            UNLISTED_WITH_CALL_ID)
        applied = status is not None and self.choose(point) != "status ignored"
        call = next((c for c in self.calls if c.call_id == call_id), None)
        if call is None:
            call = next((c for c in self.calls if _same_id(c.call_id, call_id)), None)
            if call is None or not self.normalizes("id"):
                raise Failed("KC-ID-002")
        self.trace.append("KC-ID-001")
        if applied and status is not None:
            _, lookups = self.lookups(status)
            if not any(self.matches(call, lookup) for lookup in lookups):
                raise Failed("KC-ID-005")
        return call

    def by_extension(self, number: str) -> Call:
        status = self.value(P_STATUS)
        if status is None:
            raise Failed("KC-EXT-006")
        name, lookups = self.lookups(status)
        self.trace.append(STATUS_REQUIREMENT[name])
        if any(number in p and p != number for c in self.calls for p in c.parties()):
            self.trace.append("KC-EXT-003")
        if any(c.state == "upcoming" and number in c.parties()
               and c.offset_seconds > NEXT_WINDOW_SECONDS for c in self.calls) and (
                "next" in lookups):
            self.trace.append("KC-STATUS-003")
        for lookup in lookups:
            found = [c for c in self.calls
                     if self.party(c, number) is not None and self.matches(c, lookup)]
            if found:
                call = self.pick(found, lookup)
                self.trace.append(PARTY_REQUIREMENT[self.party(call, number) or 0])
                return call
        if lookups[-1] == "next" and self.choose(NEXT_NO_CALL) == "pending keep":
            raise _Pending()
        raise Failed("KC-STATUS-012")

    def party(self, call: Call, number: str) -> int | None:
        """Where ``number`` stands in the call (0 caller, 1 called), or None."""
        parties = call.parties()
        if number in parties:
            return parties.index(number)
        wanted = normal_number(number)
        index = next((i for i, p in enumerate(parties) if normal_number(p) == wanted), None)
        return index if index is not None and self.normalizes("number") else None

    def normalizes(self, kind: str) -> bool:
        """An odd spelling of a real identifier (case of a GUID, braces, spaces, a + or 00
        before a number, fullwidth digits): the page does not say whether it still names it."""
        return self.choose(NORMALIZED[kind]) != "exact identifiers"

    def pick(self, found: list[Call], lookup: Lookup) -> Call:
        if len(found) == 1:
            return found[0]
        if lookup == "ongoing":
            raise Failed("KC-EXT-004")
        if self.choose(SEVERAL_LAST_NEXT) == "error":
            raise Failed("KC-EXT-005")
        nearest = min(c.offset_seconds for c in found)
        tied = [c.call_id for c in found if c.offset_seconds == nearest]
        chosen = tied[0] if len(tied) == 1 else self.choose(TIE, tied)
        if chosen == "error":
            raise Failed("KC-EXT-005")
        return next(c for c in found if c.call_id == chosen)

    def identify(self) -> Call:
        call_id, number = self.value(P_CALL_ID), self.value(P_EXTENSION)
        if call_id is None and number is None:
            raise Failed("KC-ID-003")
        if call_id is not None and number is not None:
            rule = self.choose(BOTH_IDS)
            if rule == "rejected":
                raise Failed("KC-ID-004")
            if rule == "extension wins":
                return self.by_extension(number)
        if call_id is not None:
            return self.by_call_id(call_id)
        assert number is not None
        return self.by_extension(number)

    def apply(self, call: Call, flag: Flag, value: bool) -> Outcome:
        if flag == "recording" and not set(call.parties()) & self.controlled and (
                self.choose(UNCONTROLLED) == "error"):
            raise Failed("KC-TYPE-005")
        if flag == "recording" and call.state != "ongoing" and self.choose(
                NOT_STARTED if call.state == "upcoming" else NOT_IN_PROGRESS) == "refused":
            raise Failed("KC-TYPE-006")
        if call.flags.get(flag) == value and self.choose(ALREADY_SET) == "rejected":
            raise Failed()
        self.trace.append(FLAG_REQUIREMENT[(flag, value)])
        return Outcome(call.call_id, flag, value)

    def outcome(self) -> Outcome:
        """The outcome under this path's readings; ``before_action`` tells an error raised
        before the action runs (its format is open: the requested one, or XML)."""
        try:
            self.check_action()
            self.check_auth()
        except Failed as failed:
            self.trace.extend(failed.requirements)
            self.before_action = True
            return ERROR
        try:
            self.check_parameters()
            flag, value = self.flag(), self.flag_value()
            call = self.identify()
            outcome = self.apply(call, flag, value)
        except Failed as failed:
            self.trace.extend(failed.requirements)
            return ERROR
        except _Pending:
            return PENDING
        self.upcoming = call.state == "upcoming"
        return outcome


def _listed(status: str) -> bool:
    """Whether a status value is one the page lists, whatever its letter case or spacing."""
    return "".join(status.split()).lower() in STATUS_LOOKUPS


def _same_id(known: str, given: str) -> bool:
    return normal_call_id(known) == normal_call_id(given)


def normal_call_id(value: str) -> str:
    """A callID as a lenient target may compare it: NFKC, no braces or spaces around it, any
    case. Written apart from the reference server's on purpose; tests/test_normalisation.py
    pins both to one table."""
    return unicodedata.normalize("NFKC", value).strip().strip("{}").strip().casefold()


def normal_number(value: str) -> str:
    """A number as a lenient target may compare it: NFKC, no spaces, no + or 00 in front
    (pinned with the reference server's by tests/test_normalisation.py)."""
    value = unicodedata.normalize("NFKC", value).strip().replace(" ", "")
    value = value.removeprefix("+")
    return value.removeprefix("00")


def expect(request: KeepCallRequest, calls: Sequence[Call],
           controlled: Sequence[str] = (), auth: TargetAuth = ANY_TARGET) -> Expectation:
    """Every outcome the spec allows for ``request`` on a target holding ``calls``. Asked
    once per request as the oracle reads it: the method is not read (a GET and its POST
    twin share one answer), and an Expectation is never changed once made."""
    read = KeepCallRequest(tuple(request.params), "GET", request.api_key, request.token)
    return _expect(read, tuple(calls), frozenset(controlled), auth)


# A case's stances and a GET's POST twin come together: a small cache holds them.
@functools.lru_cache(maxsize=256)
def _expect(request: KeepCallRequest, calls: tuple[Call, ...], controlled: frozenset[str],
            auth: TargetAuth) -> Expectation:
    allowed: dict[Outcome, list[Reading]] = {}
    because: dict[Outcome, list[RequirementId]] = {}
    formats: set[str] = set()
    error_formats: set[str] = set()
    deferrable: set[Outcome] = set()
    path: list[int] | None = []
    while path is not None:
        chooser = Chooser(path)
        evaluation = _Evaluation(request, auth, chooser.choose, [], calls, controlled)
        formats |= evaluation.response_formats()
        outcome = evaluation.outcome()
        if evaluation.before_action:
            error_formats.add(DEFAULT_RESPONSE_TYPE)
        if evaluation.upcoming:
            deferrable.add(outcome)
        allowed.setdefault(outcome, []).append(chooser.reading())
        decided = because.setdefault(outcome, [])
        decided.extend(r for r in evaluation.trace if r not in decided)
        path = chooser.next_path()
    trace = tuple(dict.fromkeys(r for rs in because.values() for r in rs))
    return Expectation({o: tuple(r) for o, r in allowed.items()}, trace, frozenset(formats),
                       {o: tuple(rs) for o, rs in because.items()},
                       frozenset(error_formats - formats), frozenset(deferrable))
