"""A request's parameters as a target may read them, under one path of readings.

The first steps of docs/SEMANTICS.md: the names and values read (letter case, duplicates,
empty and trimmed values), the action, the credentials, the response format, the type, unmark
and status values. A step that refuses the request raises ``Failed`` with the clause that
decides it; the lookup of the call (oracle.py) builds on these.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from conformance.catalog.requirements import RequirementId
from conformance.catalog.spec import (
    ACTION,
    DEFAULT_RESPONSE_TYPE,
    LOOKUP_STATE,
    P_ACTION,
    P_RESPONSE_TYPE,
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
from conformance.domain.chooser import Choose
from conformance.domain.model import Credential, KeepCallRequest, Params
from conformance.domain.open_points import (
    ACTION_CASE,
    DUPLICATES,
    EMPTY_PARTS,
    EMPTY_VALUE,
    NAME_CASE,
    RT_CASE,
    RT_JSON,
    RT_UNKNOWN,
    SPELLING,
    SPELLING_READING,
    STATUS_CASE,
    TOKEN_CLAUSE,
    TOKEN_ON_OPEN_KEY,
    TOKEN_REQUIRED,
    TRIMMED,
    TYPE_CASE,
    UNKNOWN_PARAMS,
    UNMARK_OTHER,
    UNMARK_ZERO,
    OpenPoint,
)

_SECRET_FREE_PARAMETERS = frozenset(PARAMETERS) - {"apiKey", "token"}
_SPELLED = {n.lower(): n for n in PARAMETERS}


@dataclass(frozen=True)
class _Names:
    """A request's values by name as sent, and (``folded``) with names that differ from the
    page's only in letter case read as the page's; None where no name does."""

    sent: Mapping[str, tuple[str, ...]]
    folded: Mapping[str, tuple[str, ...]] | None


@functools.lru_cache(maxsize=256)
def _names(params: Params) -> _Names:
    """Read once per request: every path of readings and every stance asks it again."""
    odd = any(n not in PARAMETERS and n.lower() in _SPELLED for n, _ in params)
    folded = tuple((_SPELLED.get(n.lower(), n), v) for n, v in params) if odd else None
    return _Names(_grouped(params), None if folded is None else _grouped(folded))


def _grouped(params: Params) -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    for name, value in params:
        found.setdefault(name, []).append(value)
    return {name: tuple(values) for name, values in found.items()}


@dataclass(frozen=True)
class TargetAuth:
    """What the oracle knows of the target: whether the key used needs a token (None: not
    declared, either reading is open: KC-AUTH-011), and which spelling of a status list
    (``ongoing,next`` / ``ongoing, next``) a probe found it takes ("tight", "spaced", "either";
    None: not probed, every spelling is an open reading)."""

    token_required: bool | None = True
    status_spelling: str | None = None



class Failed(Exception):
    """The request is answered with an error; ``requirements`` say which clause decides it."""

    def __init__(self, *requirements: RequirementId) -> None:
        super().__init__(*requirements)
        self.requirements = requirements



@dataclass
class Parameters:
    """One request's parameters read under one combination of readings (``choose``);
    ``trace`` collects the clauses met on the way."""

    request: KeepCallRequest
    auth: TargetAuth
    choose: Choose
    trace: list[RequirementId]

    # --- parameter access -------------------------------------------------------------------
    def by_name(self) -> Mapping[str, tuple[str, ...]]:
        """The parameters' values by name, under the reading for the letter case of names."""
        names = _names(tuple(self.request.params))
        if names.folded is None or self.choose(NAME_CASE) == "case-sensitive":
            return names.sent
        return names.folded

    def values(self, name: str) -> tuple[str, ...]:
        return self.by_name().get(name, ())

    def value(self, name: str) -> str | None:
        """The parameter's value under the readings for duplicates and empty values."""
        values = self.values(name)
        if not values:
            return None
        value = values[0]
        if len(values) > 1:
            rule = self.choose(DUPLICATES)
            if rule == "rejected":
                raise Failed()
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
            raise Failed("KC-ACTION-002")
        if self.canonical(value, (ACTION,), ACTION_CASE) is None:
            raise Failed("KC-ACTION-003" if value.lower() == ACTION.lower() else "KC-ACTION-001")

    def check_auth(self) -> None:
        key, token = self.request.api_key, self.request.token
        if key is Credential.MISSING:
            raise Failed("KC-AUTH-001")
        if key is Credential.INVALID:
            raise Failed("KC-AUTH-002")
        declared = self.auth.token_required
        if declared is None and token is Credential.VALID:
            return  # a token the target issued: accepted whether or not the key needs one
        required = declared if declared is not None else (
            self.choose(TOKEN_REQUIRED) == "required")
        if required:
            if token in TOKEN_CLAUSE:
                raise Failed(TOKEN_CLAUSE[token])
            return
        if declared is None:  # answered as a key needing no token: the clause is met so
            self.trace.append(TOKEN_CLAUSE[token])
        if token is not Credential.MISSING and self.choose(TOKEN_ON_OPEN_KEY) == "rejected":
            raise Failed()

    def check_parameters(self) -> None:
        names = self.by_name().keys()
        if names - _SECRET_FREE_PARAMETERS and self.choose(UNKNOWN_PARAMS) == "rejected":
            raise Failed()
        value = self.value(P_RESPONSE_TYPE)
        known = value is None or self.canonical(value, RESPONSE_TYPES, RT_CASE)
        unknown = not known
        if unknown and self.choose(RT_UNKNOWN) == "error":
            raise Failed()

    def flag(self) -> Flag:
        value = self.value(P_TYPE)
        if value is None:
            return TYPE_FLAGS[None]
        known = [t for t in TYPE_FLAGS if t is not None]
        canonical = self.canonical(value, known, TYPE_CASE)
        if canonical is None:
            case_only = value.lower() in {k.lower() for k in known}
            raise Failed("KC-STATUS-009" if case_only else "KC-TYPE-004")
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
                raise Failed()
            return True
        # 2, true, 01, " 1": ignored, refused, or read as true (an integer or truthy parse)
        rule = self.choose(UNMARK_OTHER)
        if rule == "error":
            raise Failed()
        return rule == "ignored"

    def lookups(self, status: str) -> tuple[str, tuple[Lookup, ...]]:
        """The status value's name and lookups, or an error for values the page does not list."""
        value = self.spelling(self.without_empty_parts(status))
        if any(ch.isspace() for ch in value):
            stripped = ",".join(part.strip() for part in value.split(","))
            if self.choose(SPELLING) == "accepted":
                value = stripped
            elif stripped.lower() in STATUS_LOOKUPS:
                raise Failed("KC-STATUS-010")
        canonical = self.canonical(value, tuple(STATUS_LOOKUPS), STATUS_CASE)
        if canonical is not None:
            return canonical, STATUS_LOOKUPS[canonical]
        if value.lower() in STATUS_LOOKUPS:
            raise Failed("KC-STATUS-009")
        parts = value.lower().split(",")
        listed = len(parts) > 1 and all(p in LOOKUP_STATE for p in parts)
        raise Failed("KC-STATUS-008" if listed else "KC-STATUS-007")

    def without_empty_parts(self, status: str) -> str:
        """``ongoing,`` : rejected, or the empty part dropped (Java's split)."""
        parts = status.split(",")
        if len(parts) < 2 or all(p.strip() for p in parts):
            return status
        if self.choose(EMPTY_PARTS) == "rejected":
            raise Failed()
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
            raise Failed("KC-STATUS-010")
        return tight

