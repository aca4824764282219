"""Breakers per class of request: a kind of request the target never answers stops being sent.

The run's own breaker (``settings.BREAKER``, held here as ``Breakers.circuit`` so that every
sender asks one place) stops a run whose target answers nothing at all: no request starts once
it is open, in a batch's flight too. It counts failures in a row, which a target that never
answers POST but answers GET never makes while GET and POST cases alternate: every POST case
would wait out its timeout. Here each
request belongs to classes (its method, the responseType it asks for). A class trips when its
last ``TRIP_AFTER`` requests went unanswered and a probe of another kind is answered (a dead
target is the run breaker's, and inconclusive). A tripped class fails the clause it is
about once, with the evidence, and its remaining cases are not sent: not tested.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Final

from conformance.catalog.requirements import RequirementId
from conformance.catalog.spec import ACTION, P_ACTION, P_RESPONSE_TYPE
from conformance.domain.model import KeepCallRequest

TRIP_AFTER: Final = 3
# The error kinds (transport.Exchange.error_kind) that mean the target did not answer.
NO_ANSWER: Final = frozenset({"timeout", "reset", "closed"})
# The clause a class of requests is about: what a target that never answers it breaks.
CLASS_REQUIREMENT: Final[dict[str, RequirementId]] = {
    "GET": "KC-HTTP-001", "POST": "KC-HTTP-002", "responseType=XML": "KC-RT-002",
    "responseType=HTML": "KC-RT-003", "responseType=TEXT": "KC-RT-004"}


def classes(request: KeepCallRequest) -> tuple[str, ...]:
    """The classes ``request`` belongs to, each a key of CLASS_REQUIREMENT."""
    named = (request.method, f"{P_RESPONSE_TYPE}={request.get(P_RESPONSE_TYPE)}")
    return tuple(c for c in named if c in CLASS_REQUIREMENT)


@dataclass(frozen=True)
class Trip:
    """A class that just tripped: the clause it fails and why."""

    requirement: RequirementId
    message: str


def probe_for(name: str) -> KeepCallRequest:
    """A request outside class ``name`` (an error is due, any answer will do): whether the
    target answers at all when that class goes unanswered."""
    return KeepCallRequest(((P_ACTION, ACTION),), "POST" if name == "GET" else "GET")


@dataclass
class Breakers:
    """The classes' streaks of unanswered requests, and the classes tripped so far."""

    in_a_row: Counter[str] = field(default_factory=Counter)
    tripped: dict[str, str] = field(default_factory=dict)  # class -> why its cases are unsent
    circuit: int | None = None  # the run's breaker: this many failed requests in a row stop it

    def circuit_open(self, failures_in_a_row: int) -> bool:
        """Whether the run's circuit breaker stops it: send nothing more (not even a probe)."""
        return self.circuit is not None and failures_in_a_row >= self.circuit

    def blocked(self, request: KeepCallRequest) -> str | None:
        """Why ``request`` is not to be sent, or None."""
        return next((self.tripped[c] for c in classes(request) if c in self.tripped), None)

    def note(self, request: KeepCallRequest, error_kind: str | None) -> list[str]:
        """Count an exchange; the classes now suspect (TRIP_AFTER unanswered in a row): the
        caller trips each whose probe (``probe_for``) is answered."""
        unanswered = error_kind in NO_ANSWER
        for name in classes(request):
            self.in_a_row[name] = self.in_a_row[name] + 1 if unanswered else 0
        return [name for name in classes(request)
                if self.in_a_row[name] >= TRIP_AFTER and name not in self.tripped]

    def trip(self, name: str, error: str | None) -> Trip:
        """Stop sending class ``name``; the failure of the clause it is about."""
        self.tripped[name] = (f"not sent: the target answered no {name} request "
                              f"{TRIP_AFTER} times in a row")
        return Trip(CLASS_REQUIREMENT[name], (
            f"no answer to {TRIP_AFTER} {name} requests in a row ({error}), while it answered "
            f"a request of another kind; the remaining {name} cases were not sent"))
