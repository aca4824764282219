"""Probing what the page leaves to the target before the matrix runs: the POST encoding and
the spelling of a status list.

The page says POST works but not how its parameters travel (a form body or the query string),
and prints ``ongoing, next`` with a space where clients send ``ongoing,next``. A target must
serve POST in at least one encoding (KC-HTTP-002) and a status list in at least one spelling
(KC-STATUS-005/006). Each is probed once with a keep on a fresh call, read back through the
control protocol; the run then sends every POST and every status list the way the target takes.
The status list is probed where its first lookup succeeds (``ongoing,next`` on an ongoing call),
so the probe asks about the spelling alone: a broken fallback cannot make it keep nothing and
so excuse itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from conformance.catalog.spec import ACTION, P_ACTION, P_CALL_ID, P_EXTENSION, P_STATUS
from conformance.domain.model import Flags, KeepCallRequest, Method, Params, Scenario
from conformance.domain.scenarios import Numbering, build
from conformance.wire.control import ControlError
from conformance.wire.target import Target

# (reading of KC-HTTP-003, sent in the query string) in the order tried.
POST_WAYS = (("form body", False), ("query string", True))
# (spelling, the status list as sent): its first lookup finds the probe's ongoing call.
SPELLINGS = (("tight", "ongoing,next"), ("spaced", "ongoing, next"))


class _Unprobed(Exception):
    """A probe that could not be sent (no token to be had)."""


@dataclass
class Dialect:
    """What the probes found; ``None`` where nothing was probed (no control URL, or the
    probes broke off: ``problem`` says why, for the run to report)."""

    post_served: tuple[str, ...] | None = None
    spellings: tuple[str, ...] | None = None
    evidence: dict[str, str] = field(default_factory=dict)
    problem: str | None = None

    @property
    def spelling(self) -> str | None:
        """"tight", "spaced", "either", or None (not probed). A target that took neither is
        held to the tight spelling, the one clients send: its status-list errors are failures
        of KC-STATUS-005/006, never a reading of KC-STATUS-010."""
        if self.spellings is None:
            return None
        if not self.spellings:
            return "tight"
        return "either" if len(self.spellings) == 2 else self.spellings[0]


def _kept(target: Target, numbering: Numbering,
          request: Callable[[Scenario], KeepCallRequest], label: str,
          dialect: Dialect) -> bool:
    """Set up an ongoing call, send the request made for it, and read whether it was kept.

    Raises _Unprobed when the request cannot be sent (no token to be had): that says
    nothing of the target's POST or spelling."""
    assert target.control is not None
    scenario = build("ongoing-caller", numbering)
    target.control.add(scenario)
    keep = request(scenario)
    credentials = target.credential_params(keep)
    if credentials is None:
        raise _Unprobed
    exchange = target.send(keep, credentials)
    kept = target.control.flags({scenario.call_id: Flags()})[scenario.call_id].kept
    dialect.evidence[label] = exchange.curl
    return kept


def _by_call_id(method: Method, in_query: bool) -> Callable[[Scenario], KeepCallRequest]:
    def make(scenario: Scenario) -> KeepCallRequest:
        params: Params = ((P_ACTION, ACTION), (P_CALL_ID, scenario.call_id))
        return replace(KeepCallRequest(params, method), post_in_query=in_query)
    return make


def _by_list(status: str) -> Callable[[Scenario], KeepCallRequest]:
    def make(scenario: Scenario) -> KeepCallRequest:
        return KeepCallRequest(((P_ACTION, ACTION), (P_EXTENSION, scenario.extension),
                                (P_STATUS, status)))
    return make


def probe(target: Target, numbering: Numbering) -> Dialect:
    """Probe the target and set its POST encoding and status-list spelling for the run."""
    dialect = Dialect()
    if target.control is None:
        return dialect
    try:
        dialect.post_served = tuple(
            way for way, in_query in POST_WAYS
            if _kept(target, numbering, _by_call_id("POST", in_query), f"POST {way}", dialect))
        dialect.spellings = tuple(
            spelling for spelling, status in SPELLINGS
            if _kept(target, numbering, _by_list(status), f"status={status}", dialect))
    except ControlError as error:
        return Dialect(problem=f"control protocol: {error}")
    except _Unprobed:
        return Dialect(problem="no token to be had for the probes")
    if dialect.post_served == ("query string",):
        target.post_encoding = "query"
    target.status_spelling = dialect.spelling
    return dialect
