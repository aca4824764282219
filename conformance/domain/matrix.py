"""The parameter matrix: every combination of the values the spec names, as readable cases.

The plain product of all dimensions is near a million requests, most of them redundant, so the
matrix is built from parts (see README "The matrix"):

- ``lookup``: the full product of the dimensions that decide the outcome together
  (identification x status x scenario x type x unmark) and of those that decide how it is sent
  and rendered (responseType x method), all with valid credentials.
- ``auth``: apiKey x token x responseType x method x identification on one scenario: an
  authentication failure answers the same whatever the lookup would have found.
- ``open-key``: token variants with a key that needs no authentication, where the target has one.
- ``values``: the spellings the page does not list (letter case, spaces, unknown values,
  unknown and duplicated parameters), each on one scenario with GET and POST.

``quick`` keeps every pair of values of any two dimensions of each part (allpairspy), plus the
full status x scenario product by extension, where the lookup faults live.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final, Literal

from allpairspy import AllPairs

from conformance.catalog.spec import (
    ACTION,
    P_ACTION,
    P_CALL_ID,
    P_EXTENSION,
    P_RESPONSE_TYPE,
    P_STATUS,
    P_TYPE,
    P_UNMARK,
    RESPONSE_TYPES,
    STATUS_VALUES,
    TYPE_VALUES,
    UNMARK_VALUE,
)
from conformance.domain.model import Credential, Flags, KeepCallRequest, Method, Params, Scenario
from conformance.domain.scenarios import EDGE_SCENARIOS, SCENARIOS, Numbering, build

Ident = Literal["callID", "extension", "both", "neither"]
Part = Literal["lookup", "edges", "auth", "open-key", "values"]

IDENTS: Final[tuple[Ident, ...]] = ("callID", "extension", "both", "neither")
STATUSES: Final[tuple[str | None, ...]] = (None, *STATUS_VALUES, "bogus", "next,ongoing")
TYPES: Final[tuple[str | None, ...]] = (None, *TYPE_VALUES)
UNMARKS: Final[tuple[str | None, ...]] = (None, UNMARK_VALUE)
FORMATS: Final[tuple[str | None, ...]] = (None, *RESPONSE_TYPES)
METHODS: Final[tuple[Method, ...]] = ("GET", "POST")
CREDENTIALS: Final = tuple(Credential)
SCENARIO_NAMES: Final = tuple(SCENARIOS)


@dataclass(frozen=True)
class Case:
    """One request shape on one scenario; numbers and callIDs are filled in when it runs."""

    part: Part
    ident: Ident
    status: str | None
    scenario: str
    type: str | None = None
    unmark: str | None = None
    response_type: str | None = None
    method: Method = "GET"
    api_key: Credential = Credential.VALID
    token: Credential = Credential.VALID
    action: str | None = ACTION
    extra: Params = ()
    label: str = ""
    call_id: str | None = None  # a literal callID instead of the scenario's
    number: str | None = None  # a literal extension instead of the scenario's
    controlled: bool = True

    @property
    def id(self) -> str:
        fields = [self.part, self.ident, f"status={_show(self.status)}", self.scenario,
                  f"type={_show(self.type)}", f"unmark={_show(self.unmark)}",
                  f"rt={_show(self.response_type)}", self.method]
        if self.part in ("auth", "open-key"):
            fields += [f"key={self.api_key.value}", f"token={self.token.value}"]
        if self.label:
            fields.append(self.label)
        return "|".join(fields)

    @property
    def twin(self) -> str | None:
        """The key this case shares with the same request on the same scenario in another of
        the page's formats (XML named or defaulted, HTML, TEXT): the XML twin's code tells
        whether an HTML or TEXT answer was a success or an error (KC-RT-010)."""
        if self.response_type not in FORMATS:
            return None
        return self.id.replace(f"|rt={_show(self.response_type)}|", "|rt=*|", 1)

    @property
    def needs_fresh_scenario(self) -> bool:
        """Whether the case depends on calls only a control URL can set up."""
        return self.scenario != "no-call"

    def instantiate(self, numbering: Numbering) -> tuple[Scenario, KeepCallRequest]:
        """Fresh calls for this case and the request naming them."""
        flags = Flags.all(self.unmark == UNMARK_VALUE)
        scenario = build(self.scenario, numbering, flags, self.controlled)
        call_id = scenario.call_id if self.call_id is None else self.call_id
        number = scenario.extension if self.number is None else self.number
        params: list[tuple[str, str]] = []
        optional = ((P_ACTION, self.action),
                    (P_CALL_ID, call_id if self.ident in ("callID", "both") else None),
                    (P_EXTENSION, number if self.ident in ("extension", "both") else None),
                    (P_STATUS, self.status), (P_TYPE, self.type), (P_UNMARK, self.unmark),
                    (P_RESPONSE_TYPE, self.response_type))
        params += [(name, value) for name, value in optional if value is not None]
        params += [(name, value.format(call_id=call_id, number=number))
                   for name, value in self.extra]
        request = KeepCallRequest(tuple(params), self.method, self.api_key, self.token)
        return scenario, request


def _show(value: str | None) -> str:
    return "-" if value is None else value or '""'


def lookup_cases(quick: bool) -> list[Case]:
    dims: list[Sequence[object]] = [IDENTS, STATUSES, SCENARIO_NAMES, TYPES, UNMARKS, FORMATS,
                                    METHODS]
    rows = _pairs(dims) if quick else list(itertools.product(*dims))
    cases = [Case("lookup", *row) for row in rows]  # type: ignore[arg-type]
    if quick:
        cases += _extension_product()
        cases += _xml_twins(cases)
    return _unique(cases)


# Lookups whose error the flags cannot tell from a pending keep (KC-STATUS-013 is open): their
# HTML and TEXT answers are labelled by an XML twin's code instead.
_TWINNED_STATUSES: Final = frozenset({"next", "ongoing,next"})


def _xml_twins(cases: Sequence[Case]) -> list[Case]:
    """--quick: the XML twin (responseType left out) of each HTML or TEXT case that needs
    one, so the wording check has its material (the full matrix holds every twin)."""
    return [replace(c, response_type=None) for c in cases
            if c.response_type in ("HTML", "TEXT") and c.status in _TWINNED_STATUSES]


def _extension_product() -> list[Case]:
    """Every status x scenario by extension; other dimensions cycle through their pairs."""
    listed = [s for s in STATUSES if s in STATUS_VALUES or s is None]
    combos = [(s, sc) for s in listed for sc in SCENARIO_NAMES]
    combos += [(s, sc) for s in STATUSES if s not in listed
               for sc in ("no-call", "ongoing-caller", "all-states")]
    rest = _pairs([TYPES, UNMARKS, FORMATS, METHODS])
    return [Case("lookup", "extension", s, sc, *rest[i % len(rest)])  # type: ignore[arg-type]
            for i, (s, sc) in enumerate(combos)]


def edge_cases() -> list[Case]:
    """Calls at the edge of a state or of the window, by callID and by every status: kept in
    --quick too, since a fault at an edge shows nowhere else."""
    dims: list[Sequence[object]] = [("callID", "extension"), STATUSES, tuple(EDGE_SCENARIOS),
                                    METHODS]
    return [Case("edges", ident, status, scenario, method=method)  # type: ignore[arg-type]
            for ident, status, scenario, method in itertools.product(*dims)
            if ident == "extension" or status is None]


def auth_cases(quick: bool) -> list[Case]:
    dims: list[Sequence[object]] = [CREDENTIALS, CREDENTIALS, FORMATS, METHODS,
                                    ("callID", "extension")]
    rows = _pairs(dims) if quick else list(itertools.product(*dims))
    return [Case("auth", ident, "ongoing", "ongoing-caller", response_type=rt,  # type: ignore
                 method=method, api_key=key, token=token)  # type: ignore[arg-type]
            for key, token, rt, method, ident in rows]


def open_key_cases(quick: bool) -> list[Case]:
    rows = list(itertools.product((Credential.MISSING, Credential.INVALID), FORMATS, METHODS))
    if quick:
        rows = rows[:: len(FORMATS)]
    return [Case("open-key", "callID", None, "ongoing-caller", response_type=rt, method=method,
                 token=token) for token, rt, method in rows]


# Classic hostile values (label suffix, value): a quote, SQL, XML metacharacters, path segments.
_HOSTILE: Final[tuple[tuple[str, str], ...]] = (
    ("quote", "88'56"), ("sql", "' OR '1'='1' --"), ("markup", '<a href="x">&amp;</a>'),
    ("path", "../../etc/passwd"))
# (label, identification, status, scenario, overrides): values the page does not list.
OddValue = tuple[str, Ident, str | None, str, dict[str, object]]


def _hostile_values() -> tuple[OddValue, ...]:
    """What breaks a query, a path or markup, and other scripts' digits, in each identifier:
    judged as any identifier that names no call (an error, nothing changed), on a call an
    injection would reach."""
    by_id = (*_HOSTILE, ("digits", "\uff10" * 8 + "-0000-0000-0000-" + "\u0660" * 12))
    by_number = (*_HOSTILE, ("digits", "\u0668\u0668\u0665\u0666"),
                 ("fullwidth", "\uff18\uff18\uff15\uff16"))
    cases: list[OddValue] = [(f"callid-{kind}", "callID", None, "ongoing-caller",
                              {"call_id": value}) for kind, value in by_id]
    cases += [(f"extension-{kind}", "extension", "ongoing", "ongoing-caller", {"number": value})
              for kind, value in by_number]
    return tuple(cases)


_ODD_VALUES: Final[tuple[OddValue, ...]] = (
    ("status-upper", "extension", "ONGOING", "ongoing-caller", {}),
    ("status-mixed-case", "extension", "Last,Ongoing", "finished-caller", {}),
    ("status-space", "extension", "ongoing, next", "upcoming-called", {}),
    ("status-space-both", "extension", "last , ongoing", "ongoing-caller", {}),
    ("status-unlisted-pair", "extension", "ongoing,last", "finished-caller", {}),
    ("status-three", "extension", "ongoing,next,last", "ongoing-caller", {}),
    ("status-empty", "extension", "", "ongoing-caller", {}),
    ("status-next-boundary", "extension", "next", "upcoming-boundary", {}),
    ("status-with-callid", "callID", "last", "ongoing-caller", {}),
    ("type-unknown", "callID", None, "ongoing-caller", {"type": "keepForever"}),
    ("type-case", "callID", None, "ongoing-caller", {"type": "DO_NOT_DELETE"}),
    ("unmark-0", "callID", None, "ongoing-caller", {"unmark": "0"}),
    ("unmark-2", "callID", None, "ongoing-caller", {"unmark": "2"}),
    ("rt-lower-xml", "callID", None, "ongoing-caller", {"response_type": "xml"}),
    ("rt-lower-html", "callID", None, "ongoing-caller", {"response_type": "html"}),
    ("rt-json", "callID", None, "ongoing-caller", {"response_type": "JSON"}),
    ("rt-unknown", "callID", None, "ongoing-caller", {"response_type": "PDF"}),
    ("rt-empty", "callID", None, "ongoing-caller", {"response_type": ""}),
    ("action-missing", "callID", None, "ongoing-caller", {"action": None}),
    ("action-lower", "callID", None, "ongoing-caller", {"action": "keepcall"}),
    ("action-other", "callID", None, "ongoing-caller", {"action": "KeepCalls"}),
    ("param-unknown", "callID", None, "ongoing-caller", {"extra": (("foo", "bar"),)}),
    ("param-duplicate", "extension", "ongoing", "ongoing-and-upcoming",
     {"extra": ((P_STATUS, "next"),)}),
    ("type-uncontrolled", "callID", None, "ongoing-caller",
     {"type": "manualRecord", "controlled": False}),
    ("callid-not-guid", "callID", None, "no-call", {"call_id": "not-a-guid"}),
    ("callid-empty", "both", "ongoing", "ongoing-caller", {"call_id": ""}),
    ("extension-long", "extension", "ongoing", "no-call", {"number": "6" * 3000}),
    ("extension-plus", "extension", "ongoing", "no-call", {"number": "+3612345678"}),
    ("status-trailing-comma", "extension", "ongoing,", "ongoing-caller", {}),
    ("param-name-case", "neither", None, "ongoing-caller",
     {"extra": (("callid", "{call_id}"),)}),
    ("unmark-true", "callID", None, "ongoing-caller", {"unmark": "true"}),
    ("type-manualrecord-finished", "callID", None, "finished-caller", {"type": "manualRecord"}),
    *_hostile_values(),
    # callID and extension naming two different calls: the answer tells which one won, so a
    # target reading KC-ID-004 one way here and another there is seen (KC-READ-001).
    ("both-disagree-ongoing", "both", "ongoing", "ongoing-and-upcoming", {}),
    ("both-disagree-last", "both", "last", "finished-and-ongoing", {}),
)


def values_cases(quick: bool) -> list[Case]:
    methods: tuple[Method, ...] = ("GET",) if quick else METHODS
    return [Case("values", ident, status, scenario, method=method, label=label,
                 **overrides)  # type: ignore[arg-type]
            for label, ident, status, scenario, overrides in _ODD_VALUES for method in methods]


@functools.cache
def all_cases(quick: bool = False) -> tuple[Case, ...]:
    """Every case, built once per process (a part of --workers inherits them)."""
    return (*lookup_cases(quick), *edge_cases(), *auth_cases(quick), *open_key_cases(quick),
            *values_cases(quick))


@functools.cache
def matrix_digest(quick: bool = False) -> str:
    """The matrix's case ids, hashed: parts of one run were given the same matrix."""
    ids = "\n".join(case.id for case in all_cases(quick))
    return hashlib.sha256(ids.encode("utf-8")).hexdigest()[:16]


def part_counts(cases: Sequence[Case]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for case in cases:
        counts[case.part] = counts.get(case.part, 0) + 1
    return counts


def _pairs(dims: Sequence[Sequence[object]]) -> list[tuple[object, ...]]:
    """A pairwise covering array: every pair of values of any two dimensions at least once."""
    return [tuple(row) for row in AllPairs([list(d) for d in dims])]


def _unique(cases: list[Case]) -> list[Case]:
    return list(dict.fromkeys(cases))

