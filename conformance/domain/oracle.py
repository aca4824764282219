"""The oracle: what the spec allows for a request against the calls a target holds.

A pure function. The page is silent in places (the OBSERVE requirements); instead of picking one
reading, the evaluator asks a ``_Chooser`` at each open point, and ``expect`` runs it once per
combination of readings that the request actually reaches. The union of the outcomes is what a
conformant target may do, and each outcome remembers which readings lead to it, so an observed
answer tells which reading the target took. docs/SEMANTICS.md is the same reading in prose.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from conformance.catalog.requirements import BY_ID, RequirementId
from conformance.catalog.spec import (
    ACTION,
    DEFAULT_RESPONSE_TYPE,
    LOOKUP_STATE,
    NEXT_WINDOW_SECONDS,
    P_ACTION,
    P_CALL_ID,
    P_EXTENSION,
    P_RESPONSE_TYPE,
    P_STATUS,
    P_TYPE,
    P_UNMARK,
    PARAMETERS,
    RESPONSE_TYPES,
    STATUS_LOOKUPS,
    TYPE_FLAGS,
    UNMARK_VALUE,
    Flag,
    Lookup,
)
from conformance.domain.model import (
    ERROR,
    PENDING,
    Call,
    Choice,
    Credential,
    Expectation,
    KeepCallRequest,
    Outcome,
    Reading,
)

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
# Matched as caller, as called party.
PARTY_REQUIREMENT: tuple[RequirementId, ...] = ("KC-EXT-001", "KC-EXT-002")
# What a probe of the target's status-list spelling means as a reading of KC-STATUS-010.
SPELLING_READING = {"either": "accepted", "tight": "rejected", "spaced": "spaced only"}

_SECRET_FREE_PARAMETERS = frozenset(PARAMETERS) - {"apiKey", "token"}


@dataclass(frozen=True)
class OpenPoint:
    """A place where the page is silent: an OBSERVE requirement, the aspect of it met here, and
    the readings the oracle tries. Checked against the catalog at import, so a typo in an ID or
    a reading fails at once instead of vanishing from the observations."""

    requirement: RequirementId
    options: tuple[str, ...]
    aspect: str = ""

    def __post_init__(self) -> None:
        entry = BY_ID[self.requirement]
        unknown = set(self.options) - set(entry.readings)
        if entry.level != "OBSERVE" or unknown:
            raise ValueError(f"{self.requirement}: not an OBSERVE reading: {sorted(unknown)}")

    @property
    def key(self) -> str:
        return f"{self.requirement}:{self.aspect}" if self.aspect else self.requirement


_CASE = ("case-sensitive", "case-insensitive")
ACTION_CASE = OpenPoint("KC-ACTION-003", _CASE)
TOKEN_ON_OPEN_KEY = OpenPoint("KC-AUTH-010", ("ignored", "rejected"))
TOKEN_REQUIRED = OpenPoint("KC-AUTH-011", ("required", "not required"))
# The clause a missing or wrong token is judged under: the target answers it as the key's
# configuration (required or not) has it.
TOKEN_CLAUSE: dict[Credential, RequirementId] = {Credential.MISSING: "KC-AUTH-003",
                                                 Credential.INVALID: "KC-AUTH-004"}
RT_UNKNOWN = OpenPoint("KC-RT-005", ("error", "default to XML"))
RT_JSON = OpenPoint("KC-RT-005", ("XML", "JSON"), "json")
RT_CASE = OpenPoint("KC-RT-006", _CASE)
BOTH_IDS = OpenPoint("KC-ID-004", ("callID wins", "extension wins", "rejected"))
# status with callID: a value the page lists may be applied to the call or not, and one it does
# not list refused or not; a target may validate the value yet never apply it (two aspects).
_WITH_CALL_ID = ("status ignored", "status applied to the call")
STATUS_WITH_CALL_ID = OpenPoint("KC-ID-005", _WITH_CALL_ID, "listed")
UNLISTED_WITH_CALL_ID = OpenPoint("KC-ID-005", _WITH_CALL_ID, "unlisted")
SEVERAL_LAST_NEXT = OpenPoint("KC-EXT-005", ("error", "the most recent / the soonest call"))
TIE = OpenPoint("KC-EXT-005", ("error",), "tie")  # the tied callIDs are options too
STATUS_CASE = OpenPoint("KC-STATUS-009", _CASE, "status")
TYPE_CASE = OpenPoint("KC-STATUS-009", _CASE, "type")
SPELLING = OpenPoint("KC-STATUS-010", ("accepted", "rejected", "spaced only"))
WINDOW_EDGE = OpenPoint("KC-STATUS-011", ("inside the window", "outside"))
NEXT_NO_CALL = OpenPoint("KC-STATUS-013", ("error", "pending keep"))
EMPTY_PARTS = OpenPoint("KC-STATUS-014", ("rejected", "empty parts dropped"))
UNCONTROLLED = OpenPoint("KC-TYPE-005", ("error", "recording started anyway"))
# manualRecord on a finished call, on one not started yet: a target may refuse the first and
# allow the second (a recording can still begin), so they are two aspects.
NOT_IN_PROGRESS = OpenPoint("KC-TYPE-006", ("allowed", "refused"), "finished")
NOT_STARTED = OpenPoint("KC-TYPE-006", ("allowed", "refused"), "upcoming")
UNMARK_ZERO = OpenPoint("KC-UNMARK-004", ("normal", "rejected"), "zero")
UNMARK_OTHER = OpenPoint("KC-UNMARK-004", ("ignored", "error", "unmark"), "value")
ALREADY_SET = OpenPoint("KC-UNMARK-004", ("success", "rejected"), "already")
UNKNOWN_PARAMS = OpenPoint("KC-PARAM-001", ("ignored", "rejected"))
DUPLICATES = OpenPoint("KC-PARAM-002", ("first wins", "last wins", "rejected"))
EMPTY_VALUE = OpenPoint("KC-PARAM-003", ("empty value means absent", "empty value is a value"))
TRIMMED = OpenPoint("KC-PARAM-003", ("exact values", "trimmed values"), "trim")
_NORMAL = ("exact identifiers", "normalized identifiers")
NORMALIZED = {"id": OpenPoint("KC-PARAM-003", _NORMAL, "id"),
              "number": OpenPoint("KC-PARAM-003", _NORMAL, "number")}
NAME_CASE = OpenPoint("KC-PARAM-004", _CASE)


@dataclass(frozen=True)
class TargetAuth:
    """What the oracle knows of the target: whether the key used needs a token (None: not
    declared, either reading is open: KC-AUTH-011), and which spelling of a status list
    (``ongoing,next`` / ``ongoing, next``) a probe found it takes ("tight", "spaced", "either";
    None: not probed, every spelling is an open reading)."""

    token_required: bool | None = True
    status_spelling: str | None = None


class _Choose(Protocol):
    def __call__(self, point: OpenPoint, more: Sequence[str] = ()) -> str: ...


class _Failed(Exception):
    """The request is answered with an error; ``requirements`` say which clause decides it."""

    def __init__(self, *requirements: RequirementId) -> None:
        super().__init__(*requirements)
        self.requirements = requirements


class _Pending(Exception):
    """``status=next`` found no call and the target may register a pending keep."""


class _Chooser:
    """Replays one path of readings; records the points met so ``expect`` can try the others."""

    def __init__(self, path: list[int]) -> None:
        self._path = path
        self._arity: list[int] = []
        self._taken: dict[OpenPoint, str] = {}

    def choose(self, point: OpenPoint, more: Sequence[str] = ()) -> str:
        """This path's reading of ``point`` (``more``: options beyond its readings, a tie's
        callIDs); the same point met twice on a path is read the same way."""
        if point in self._taken:
            return self._taken[point]
        options = (*point.options, *more)
        depth = len(self._arity)
        if depth == len(self._path):
            self._path.append(0)
        self._arity.append(len(options))
        self._taken[point] = options[self._path[depth]]
        return self._taken[point]

    def reading(self) -> Reading:
        """The readings taken, as catalog readings (a tie's chosen callID is not one)."""
        return frozenset(Choice(point.requirement, option, point.aspect)
                         for point, option in self._taken.items() if option in point.options)

    def next_path(self) -> list[int] | None:
        """The next combination to try (odometer order), or None when all were tried."""
        path = self._path[: len(self._arity)]
        while path and path[-1] + 1 >= self._arity[len(path) - 1]:
            path.pop()
        if not path:
            return None
        path[-1] += 1
        return path


@dataclass
class _Evaluation:
    """One request evaluated under one combination of readings."""

    request: KeepCallRequest
    calls: Sequence[Call]
    controlled: frozenset[str]
    auth: TargetAuth
    choose: _Choose
    trace: list[RequirementId]
    before_action: bool = False
    upcoming: bool = False

    # --- parameter access -------------------------------------------------------------------
    def params(self) -> tuple[tuple[str, str], ...]:
        """The parameters under the reading for the letter case of their names."""
        spelled = {n.lower(): n for n in PARAMETERS}
        odd = [n for n, _ in self.request.params
               if n not in PARAMETERS and n.lower() in spelled]
        if not odd or self.choose(NAME_CASE) == (
                "case-sensitive"):
            return self.request.params
        return tuple((spelled.get(n.lower(), n), v) for n, v in self.request.params)

    def values(self, name: str) -> tuple[str, ...]:
        return tuple(v for n, v in self.params() if n == name)

    def value(self, name: str) -> str | None:
        """The parameter's value under the readings for duplicates and empty values."""
        values = self.values(name)
        if not values:
            return None
        value = values[0]
        if len(values) > 1:
            rule = self.choose(DUPLICATES)
            if rule == "rejected":
                raise _Failed()
            value = values[-1] if rule == "last wins" else values[0]
        if value == "" and self.choose(EMPTY_VALUE) == (
                "empty value means absent"):
            return None
        return value

    def canonical(self, value: str, known: Sequence[str], point: OpenPoint) -> str | None:
        """``value`` as one of ``known``, under the reading for letter case at ``point``."""
        if value in known:
            return value
        if value.strip() != value and self.choose(TRIMMED) == "trimmed values":
            return self.canonical(value.strip(), known, point)
        folded = {k.lower(): k for k in known}.get(value.lower())
        if folded is None:
            return None
        rule = self.choose(point)
        return folded if rule == "case-insensitive" else None

    # --- the steps of docs/SEMANTICS.md -----------------------------------------------------
    def response_formats(self) -> set[str]:
        """The formats the answer may come in; XML whenever the request names none it knows."""
        values = self.values(P_RESPONSE_TYPE)
        if len(values) > 1:  # a target rejecting duplicates may render in any of them
            return {DEFAULT_RESPONSE_TYPE, *(self.format_of(v) for v in values)}
        return {self.format_of(values[0]) if values else DEFAULT_RESPONSE_TYPE}

    def format_of(self, value: str) -> str:
        known = self.canonical(value, RESPONSE_TYPES, RT_CASE)
        if known is None and value.upper() == "JSON":  # later API versions; not on this page
            return self.choose(RT_JSON)
        return known or DEFAULT_RESPONSE_TYPE

    def check_action(self) -> None:
        value = self.value(P_ACTION)
        if value is None:
            raise _Failed("KC-ACTION-002")
        if self.canonical(value, (ACTION,), ACTION_CASE) is None:
            raise _Failed("KC-ACTION-003" if value.lower() == ACTION.lower() else "KC-ACTION-001")

    def check_auth(self) -> None:
        key, token = self.request.api_key, self.request.token
        if key is Credential.MISSING:
            raise _Failed("KC-AUTH-001")
        if key is Credential.INVALID:
            raise _Failed("KC-AUTH-002")
        declared = self.auth.token_required
        if declared is None and token is Credential.VALID:
            return  # a token the target issued: accepted whether or not the key needs one
        required = declared if declared is not None else (
            self.choose(TOKEN_REQUIRED) == "required")
        if required:
            if token in TOKEN_CLAUSE:
                raise _Failed(TOKEN_CLAUSE[token])
            return
        if declared is None:  # answered as a key needing no token: the clause is met so
            self.trace.append(TOKEN_CLAUSE[token])
        if token is not Credential.MISSING and self.choose(TOKEN_ON_OPEN_KEY) == "rejected":
            raise _Failed()

    def check_parameters(self) -> None:
        names = {name for name, _ in self.params()}
        if names - _SECRET_FREE_PARAMETERS and self.choose(UNKNOWN_PARAMS) == "rejected":
            raise _Failed()
        value = self.value(P_RESPONSE_TYPE)
        known = value is None or self.canonical(value, RESPONSE_TYPES, RT_CASE)
        unknown = not known
        if unknown and self.choose(RT_UNKNOWN) == "error":
            raise _Failed()

    def flag(self) -> Flag:
        value = self.value(P_TYPE)
        if value is None:
            return TYPE_FLAGS[None]
        known = [t for t in TYPE_FLAGS if t is not None]
        canonical = self.canonical(value, known, TYPE_CASE)
        if canonical is None:
            case_only = value.lower() in {k.lower() for k in known}
            raise _Failed("KC-STATUS-009" if case_only else "KC-TYPE-004")
        return TYPE_FLAGS[canonical]

    def flag_value(self) -> bool:
        """True to set the flag, False to clear it (unmark=1)."""
        value = self.value(P_UNMARK)
        if value is None:
            return True
        if value == UNMARK_VALUE:
            return False
        if value == "0":  # the normal operation, or a value other than 1 refused
            if self.choose(UNMARK_ZERO) == "rejected":
                raise _Failed()
            return True
        # 2, true, 01, " 1": ignored, refused, or read as true (an integer or truthy parse)
        rule = self.choose(UNMARK_OTHER)
        if rule == "error":
            raise _Failed()
        return rule == "ignored"

    def lookups(self, status: str) -> tuple[str, tuple[Lookup, ...]]:
        """The status value's name and lookups, or an error for values the page does not list."""
        value = self.spelling(self.without_empty_parts(status))
        if any(ch.isspace() for ch in value):
            stripped = ",".join(part.strip() for part in value.split(","))
            if self.choose(SPELLING) == "accepted":
                value = stripped
            elif stripped.lower() in STATUS_LOOKUPS:
                raise _Failed("KC-STATUS-010")
        canonical = self.canonical(value, tuple(STATUS_LOOKUPS), STATUS_CASE)
        if canonical is not None:
            return canonical, STATUS_LOOKUPS[canonical]
        if value.lower() in STATUS_LOOKUPS:
            raise _Failed("KC-STATUS-009")
        parts = value.lower().split(",")
        listed = len(parts) > 1 and all(p in LOOKUP_STATE for p in parts)
        raise _Failed("KC-STATUS-008" if listed else "KC-STATUS-007")

    def without_empty_parts(self, status: str) -> str:
        """``ongoing,`` : rejected, or the empty part dropped (Java's split)."""
        parts = status.split(",")
        if len(parts) < 2 or all(p.strip() for p in parts):
            return status
        if self.choose(EMPTY_PARTS) == "rejected":
            raise _Failed()
        return ",".join(p for p in parts if p.strip())

    def spelling(self, value: str) -> str:
        """The page prints ``ongoing, next``; ``ongoing,next`` is the tight spelling. A target
        must take one of them (KC-STATUS-005/006): the probe says which, else all are open."""
        tight = value.replace(", ", ",")
        odd_case = value == tight and tight.lower() in STATUS_LOOKUPS  # Last,Ongoing
        if (tight not in STATUS_LOOKUPS and not odd_case) or "," not in tight:
            return value
        reading = SPELLING_READING.get(self.auth.status_spelling or "") or self.choose(SPELLING)
        spaced = value != tight
        if (reading == "rejected" and spaced) or (reading == "spaced only" and not spaced):
            raise _Failed("KC-STATUS-010")
        return tight

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
                raise _Failed("KC-ID-002")
        self.trace.append("KC-ID-001")
        if applied and status is not None:
            _, lookups = self.lookups(status)
            if not any(self.matches(call, lookup) for lookup in lookups):
                raise _Failed("KC-ID-005")
        return call

    def by_extension(self, number: str) -> Call:
        status = self.value(P_STATUS)
        if status is None:
            raise _Failed("KC-EXT-006")
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
        raise _Failed("KC-STATUS-012")

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
            raise _Failed("KC-EXT-004")
        if self.choose(SEVERAL_LAST_NEXT) == "error":
            raise _Failed("KC-EXT-005")
        nearest = min(c.offset_seconds for c in found)
        tied = [c.call_id for c in found if c.offset_seconds == nearest]
        chosen = tied[0] if len(tied) == 1 else self.choose(TIE, tied)
        if chosen == "error":
            raise _Failed("KC-EXT-005")
        return next(c for c in found if c.call_id == chosen)

    def identify(self) -> Call:
        call_id, number = self.value(P_CALL_ID), self.value(P_EXTENSION)
        if call_id is None and number is None:
            raise _Failed("KC-ID-003")
        if call_id is not None and number is not None:
            rule = self.choose(BOTH_IDS)
            if rule == "rejected":
                raise _Failed("KC-ID-004")
            if rule == "extension wins":
                return self.by_extension(number)
        if call_id is not None:
            return self.by_call_id(call_id)
        assert number is not None
        return self.by_extension(number)

    def apply(self, call: Call, flag: Flag, value: bool) -> Outcome:
        if flag == "recording" and not set(call.parties()) & self.controlled and (
                self.choose(UNCONTROLLED) == "error"):
            raise _Failed("KC-TYPE-005")
        if flag == "recording" and call.state != "ongoing" and self.choose(
                NOT_STARTED if call.state == "upcoming" else NOT_IN_PROGRESS) == "refused":
            raise _Failed("KC-TYPE-006")
        if call.flags.get(flag) == value and self.choose(ALREADY_SET) == "rejected":
            raise _Failed()
        self.trace.append(FLAG_REQUIREMENT[(flag, value)])
        return Outcome(call.call_id, flag, value)

    def outcome(self) -> Outcome:
        """The outcome under this path's readings; ``before_action`` tells an error raised
        before the action runs (its format is open: the requested one, or XML)."""
        try:
            self.check_action()
            self.check_auth()
        except _Failed as failed:
            self.trace.extend(failed.requirements)
            self.before_action = True
            return ERROR
        try:
            self.check_parameters()
            flag, value = self.flag(), self.flag_value()
            call = self.identify()
            outcome = self.apply(call, flag, value)
        except _Failed as failed:
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
           controlled: Sequence[str] = (), auth: TargetAuth = TargetAuth()) -> Expectation:
    """Every outcome the spec allows for ``request`` on a target holding ``calls``."""
    allowed: dict[Outcome, list[Reading]] = {}
    because: dict[Outcome, list[RequirementId]] = {}
    formats: set[str] = set()
    error_formats: set[str] = set()
    deferrable: set[Outcome] = set()
    path: list[int] | None = []
    while path is not None:
        chooser = _Chooser(path)
        evaluation = _Evaluation(request, calls, frozenset(controlled), auth, chooser.choose, [])
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
