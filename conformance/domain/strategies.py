"""Hypothesis strategies for KeepCall: requests on scenario plans, and the examples made of both.

A generated example is abstract: numbers and calls are indices, and a request names them by
reference (``Ref``). ``Example.instantiate`` fills in fresh numbers and callIDs from the run's
``Numbering`` each time it runs, so shrinking can replay an example against a target that
still holds the calls of every earlier one, without the two ever seeing each other.

Values come from the *meaningful* pool (the scenario's callIDs and numbers, the listed status,
type and responseType values) and, with a small weight per dimension, from the bounded *odd*
one of ``pools`` (here too: duplicated parameters, odd orders), so most examples reach the
lookup, and every choice shrinks towards its meaningful, shortest form.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Final, Literal, TypeVar

from hypothesis import strategies as st

from conformance.catalog.spec import (
    ACTION,
    CALL_STATES,
    P_ACTION,
    P_CALL_ID,
    P_EXTENSION,
    P_RESPONSE_TYPE,
    P_STATUS,
    P_TYPE,
    P_UNMARK,
    RESPONSE_TYPES,
    STATUS_FINDING,
    STATUS_VALUES,
    TYPE_VALUES,
    UNMARK_VALUE,
    CallState,
)
from conformance.domain.model import Credential, KeepCallRequest, Method, Scenario
from conformance.domain.pools import (
    KIND_TRANSFORMS,
    ODD_ACTION,
    ODD_CREDENTIALS,
    ODD_RESPONSE_TYPE,
    ODD_STATUS,
    ODD_TYPE,
    ODD_UNMARK,
    TRANSFORMS,
    UNKNOWN_NAMES,
    odd_literal,
    weighted,
)
from conformance.domain.scenario_plans import (
    NO_CALLS,
    CallPlan,
    Instance,
    Party,
    ScenarioPlan,
    flags,
    scenario_plans,
)
from conformance.domain.scenarios import Numbering

T = TypeVar("T")
RefKind = Literal["call", "number"]
Ident = Literal["callID", "extension", "both", "neither"]


# --- requests -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Ref:
    """A value taken from the scenario: call ``index``'s ID or number ``index``, transformed."""

    kind: RefKind
    index: int
    transform: str = ""

    def resolve(self, instance: Instance) -> str:
        calls = instance.scenario.calls
        value = (calls[self.index % len(calls)].call_id if self.kind == "call"
                 else instance.numbers[self.index % len(instance.numbers)])
        return TRANSFORMS[self.transform](value) if self.transform else value

    def __str__(self) -> str:
        return f"<{self.kind} {self.index}{' ' + self.transform if self.transform else ''}>"


Value = str | Ref


@dataclass(frozen=True)
class RequestPlan:
    """A request whose callID and extension values may refer to the scenario."""

    params: tuple[tuple[str, Value], ...]
    method: Method = "GET"
    api_key: Credential = Credential.VALID
    token: Credential = Credential.VALID

    def instantiate(self, instance: Instance) -> KeepCallRequest:
        params = tuple((name, value.resolve(instance) if isinstance(value, Ref) else value)
                       for name, value in self.params)
        return KeepCallRequest(params, self.method, self.api_key, self.token)

    def describe(self) -> str:
        shown = "&".join(f"{n}={_short(str(v))}" for n, v in self.params)
        creds = "" if (self.api_key, self.token) == (Credential.VALID,) * 2 else (
            f" key={self.api_key.value} token={self.token.value}")
        return f"{self.method} {shown}{creds}"


def _short(value: str) -> str:
    return value if len(value) <= 24 else f"{value[:12]}...({len(value)} chars)"


@dataclass(frozen=True)
class Example:
    """One generated case: a scenario and a request on it."""

    scenario: ScenarioPlan
    request: RequestPlan

    def instantiate(self, numbering: Numbering) -> tuple[Scenario, KeepCallRequest]:
        instance = self.scenario.instantiate(numbering)
        return instance.scenario, self.request.instantiate(instance)

    def __repr__(self) -> str:
        return f"Example[{self.scenario.describe()} | {self.request.describe()}]"


def _odd(meaningful: st.SearchStrategy[T], odd: st.SearchStrategy[T],
         odds: int = 9) -> st.SearchStrategy[T]:
    """``meaningful`` with weight ``odds``, ``odd`` with weight 1."""
    return weighted((meaningful, odds), (odd, 1))


@functools.cache
def _ref_value(kind: RefKind, size: int) -> st.SearchStrategy[Value]:
    plain: st.SearchStrategy[Value] = st.builds(Ref, st.just(kind), st.integers(0, size - 1))
    transformed = st.builds(Ref, st.just(kind), st.integers(0, size - 1),
                            st.sampled_from(KIND_TRANSFORMS[kind]))
    unknown: st.SearchStrategy[Value] = (st.uuids(version=4).map(str) if kind == "call"
                                         else st.sampled_from(("8856", "+3612345678")))
    return weighted((plain, 16), (unknown, 1), (transformed, 1), (odd_literal(), 1))


@functools.cache
def _optional(listed: tuple[str, ...], odd: tuple[str, ...], absent: int, each: int,
              odd_weight: int = 1) -> st.SearchStrategy[str | None]:
    """None (weight ``absent``), a listed value (``each`` each) or an odd one."""
    options: list[tuple[st.SearchStrategy[str | None], int]] = [(st.none(), absent)]
    options += [(st.just(v), each) for v in listed]
    options.append((st.sampled_from(odd), odd_weight))
    return weighted(*options)


METHODS: Final[tuple[Method, ...]] = ("GET", "POST")
IDENTS: Final[tuple[tuple[Ident, int], ...]] = (("callID", 3), ("extension", 8), ("both", 1),
                                                ("neither", 1))


@st.composite
def request_plans(draw: st.DrawFn, scenario: ScenarioPlan) -> RequestPlan:
    """A request on ``scenario``: mostly meaningful values, each dimension sometimes odd."""
    ident = draw(_IDENT)
    by_number = ident in ("extension", "both")
    focus = draw(st.integers(0, len(scenario.calls) - 1))
    call = scenario.calls[focus]
    action = draw(_ACTION)
    params: list[tuple[str, Value]] = [] if action is None else [(P_ACTION, action)]
    if ident in ("callID", "both"):
        params.append((P_CALL_ID, draw(_focused("call", focus, len(scenario.calls)))))
    if by_number:
        params.append((P_EXTENSION, draw(_focused("number", call.number,
                                                  len(scenario.extends),
                                                  scenario.extends[call.number]))))
    status = draw(_status(call.state) if by_number else _STATUS_BY_CALL_ID)
    optional = ((P_STATUS, status),
                (P_TYPE, draw(_optional(TYPE_VALUES, ODD_TYPE, 4, 2))),
                (P_UNMARK, draw(_optional((UNMARK_VALUE,), ODD_UNMARK, 5, 3))),
                (P_RESPONSE_TYPE, draw(_optional(RESPONSE_TYPES, ODD_RESPONSE_TYPE, 6, 1))))
    params += [(name, value) for name, value in optional if value is not None]
    params = draw(_shuffled(_with_extras(params, scenario, draw)))
    method: Method = draw(st.sampled_from(METHODS))
    key, token = draw(_CREDENTIALS)
    return RequestPlan(tuple(params), method, key, token)


def _with_extras(params: list[tuple[str, Value]], scenario: ScenarioPlan,
                 draw: st.DrawFn) -> list[tuple[str, Value]]:
    """Sometimes an unknown parameter, sometimes a duplicated one."""
    extra = draw(_EXTRA)
    if extra == "unknown":
        name = draw(st.sampled_from(UNKNOWN_NAMES))
        return [*params, (name, draw(st.one_of(_ref_value("number", len(scenario.extends)),
                                               st.just("1"))))]
    if extra == "duplicate" and params:
        name, _ = draw(st.sampled_from(params))
        alternatives = _alternatives(name, len(scenario.calls), len(scenario.extends))
        return [*params, (name, draw(alternatives))]
    return params


@functools.cache
def _alternatives(name: str, calls: int, numbers: int) -> st.SearchStrategy[Value]:
    """Another meaningful value for parameter ``name`` (for a duplicate)."""
    listed: dict[str, st.SearchStrategy[Value]] = {
        P_ACTION: st.just(ACTION),
        P_CALL_ID: _ref_value("call", calls),
        P_EXTENSION: _ref_value("number", numbers),
        P_STATUS: st.sampled_from(STATUS_VALUES),
        P_TYPE: st.sampled_from(TYPE_VALUES),
        P_UNMARK: st.sampled_from(("1", "0")),
        P_RESPONSE_TYPE: st.sampled_from(RESPONSE_TYPES),
    }
    return listed.get(name, st.just("1"))


@functools.cache
def _status(state: CallState | None) -> st.SearchStrategy[str | None]:
    """By number: mostly a status that looks for the focus call's ``state``, else any listed
    one, sometimes none (an error) or an odd one; by callID (``state`` None): mostly none."""
    listed, odd = st.sampled_from(STATUS_VALUES), st.sampled_from(ODD_STATUS)
    if state is None:
        return weighted((st.none(), 12), (listed, 3), (odd, 1))
    finding = st.sampled_from(STATUS_FINDING[state])
    return weighted((finding, 16), (listed, 6), (st.none(), 1), (odd, 2))


@functools.cache
def _focused(kind: RefKind, index: int, size: int,
             prefix: int | None = None) -> st.SearchStrategy[Value]:
    """Mostly the focus call (or its number, or the number that is a prefix of it), else any
    value of the scenario's pool."""
    options = [(st.just(Ref(kind, index)), 6), (_ref_value(kind, size), 2)]
    if prefix is not None:
        options.insert(1, (st.just(Ref(kind, prefix)), 3))
    return weighted(*options)


_IDENT: Final = weighted(*((st.just(i), w) for i, w in IDENTS))
_ACTION: Final = _odd(st.just(ACTION), st.sampled_from(ODD_ACTION), 14)
_STATUS_BY_CALL_ID: Final = _status(None)
_CREDENTIALS: Final = _odd(st.just((Credential.VALID, Credential.VALID)),
                           st.sampled_from(ODD_CREDENTIALS), 14)
_EXTRA: Final = weighted((st.none(), 14), (st.just("unknown"), 1), (st.just("duplicate"), 1))


def _shuffled(params: list[tuple[str, Value]]) -> st.SearchStrategy[list[tuple[str, Value]]]:
    """Usually the page's order; sometimes any order (shrinks back to the page's)."""
    return weighted((st.just(params), 9), (st.permutations(params), 1))


@st.composite
def general_examples(draw: st.DrawFn) -> Example:
    """A scenario and a request on it."""
    scenario = draw(scenario_plans())
    return Example(scenario, draw(request_plans(scenario)))


# Directed families: the deviations a fixed matrix rarely reaches need a precise shape that
# free generation hits about once in a hundred examples; these hit it every time they are drawn.
_IN_WINDOW: Final[dict[CallState, int]] = {"ongoing": 30, "upcoming": 30, "finished": 300}
_PARTY_NAMES: Final[tuple[Party, ...]] = ("caller", "called")
_PARTIES: Final = st.sampled_from(_PARTY_NAMES)


def _keep_request(draw: st.DrawFn, params: list[tuple[str, Value]]) -> RequestPlan:
    """``params`` plus the type, unmark and format dimensions, sent either way."""
    optional = ((P_TYPE, draw(_optional(TYPE_VALUES, ODD_TYPE, 4, 2, 0))),
                (P_UNMARK, draw(_optional((UNMARK_VALUE,), ODD_UNMARK, 5, 3, 0))),
                (P_RESPONSE_TYPE, draw(_optional(RESPONSE_TYPES, ODD_RESPONSE_TYPE, 6, 1, 0))))
    params = [(P_ACTION, ACTION), *params, *((n, v) for n, v in optional if v is not None)]
    return RequestPlan(tuple(params), draw(st.sampled_from(METHODS)))


@st.composite
def prefix_examples(draw: st.DrawFn) -> Example:
    """The only call is on a longer number that starts with the one asked for: an error."""
    state: CallState = draw(st.sampled_from(CALL_STATES))
    call = CallPlan(state, _IN_WINDOW[state], 1, draw(_PARTIES), draw(flags()))
    scenario = ScenarioPlan((None, 0), (call,))
    status = draw(st.sampled_from(STATUS_FINDING[state]))
    return Example(scenario, _keep_request(draw, [(P_EXTENSION, Ref("number", 0)),
                                                  (P_STATUS, status)]))


@st.composite
def window_examples(draw: st.DrawFn) -> Example:
    """An upcoming call starting after the minute, looked up with `next`: an error."""
    offset = draw(st.sampled_from((61, 90, 120, 180, 240, 299)))
    calls = [CallPlan("upcoming", offset, 0, draw(_PARTIES), draw(flags()))]
    if draw(st.booleans()):  # a finished call too: `last` would find it, `next` must not
        calls.append(CallPlan("finished", 300, 0, draw(_PARTIES), draw(flags())))
    status = draw(st.sampled_from(("next", "ongoing,next")))
    return Example(ScenarioPlan((None,), tuple(calls)),
                   _keep_request(draw, [(P_EXTENSION, Ref("number", 0)), (P_STATUS, status)]))


@st.composite
def neighbour_examples(draw: st.DrawFn) -> Example:
    """Several calls sharing a number, flags set or clear, one named: side effects show."""
    count = draw(st.integers(2, 3))
    states = draw(st.lists(st.sampled_from(CALL_STATES), min_size=count, max_size=count))
    plans = tuple(CallPlan(state, _IN_WINDOW[state] + 10 * i, 0, draw(_PARTIES), draw(flags()))
                  for i, state in enumerate(states))
    focus = draw(st.integers(0, count - 1))
    by_call = draw(st.booleans())
    params: list[tuple[str, Value]] = [(P_CALL_ID, Ref("call", focus))] if by_call else [
        (P_EXTENSION, Ref("number", 0)),
        (P_STATUS, draw(st.sampled_from(STATUS_FINDING[states[focus]] + ("bogus",))))]
    return Example(ScenarioPlan((None,), plans), _keep_request(draw, params))


@functools.cache
def examples() -> st.SearchStrategy[Example]:
    """Mostly free examples; a third from the directed families (shrinks towards free ones)."""
    return weighted((general_examples(), 6), (prefix_examples(), 1), (window_examples(), 1),
                    (neighbour_examples(), 1))


@st.composite
def scenario_free_requests(draw: st.DrawFn) -> RequestPlan:
    """Requests for a target without a control URL: callIDs and numbers nobody set up."""
    return draw(request_plans(NO_CALLS))
