"""Running one request on one scenario against a target: set up, send, read back, judge.

The matrix, the Hypothesis properties and the single-clause tests all go through ``run``, so
every kind of test provisions, reproduces and judges the same way. ``run`` is three steps:
``prepare`` (the expectation, the credentials, what skips the case), then set-up and send, then
``finish`` (read back, judge); a batch of matrix cases (batch.py) shares the middle step and the
read-back of its cases.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from conformance.catalog.requirements import RequirementId
from conformance.catalog.spec import P_STATUS, STATUS_VALUES
from conformance.domain.breaker import probe_for
from conformance.domain.fuzzing import FuzzPlan, build
from conformance.domain.model import (
    ERROR,
    Call,
    Cause,
    Check,
    Choice,
    Expectation,
    KeepCallRequest,
    Outcome,
    Scenario,
    merged,
)
from conformance.domain.oracle import TargetAuth
from conformance.domain.timeline import Timeline, elapsed_bound
from conformance.judging.checks import (
    Reply,
    availability,
    beyond_the_page,
    delivery_checks,
    invariant_reply,
    reply_checks,
)
from conformance.judging.deferral import Flagged, judged, waits
from conformance.running.readback import Reads, own, read_back
from conformance.running.result import Result as Result
from conformance.wire.control import ControlError
from conformance.wire.target import Target
from conformance.wire.transport import Exchange

# A change on an upcoming call may wait for the call to start (KC-TYPE-007): the clock is
# moved this far past the latest start before the flags are read again.
START_MARGIN_SECONDS = 2


def run(target: Target, scenario: Scenario, request: KeepCallRequest,
        fresh: bool = True, open_key: bool = False, also: tuple[RequirementId, ...] = (),
        credentials: list[tuple[str, str]] | None = None,
        decided_by: RequirementId | None = None, fuzz: FuzzPlan | None = None) -> Result:
    """Judge ``request`` on ``scenario``; ``fresh`` scenarios need the control protocol.

    ``also`` names requirements a success checks besides the oracle's (the auth cases' own);
    ``credentials`` replaces the target's apiKey/token parameters (a token of the test's own);
    ``decided_by`` is the one clause that decides the outcome where the test knows better than
    the oracle (a token's age: the oracle only sees a valid or an invalid token); ``fuzz``
    replaces parameters and the request's shape (fuzzing.py).
    """
    pending = prepare(target, scenario, request, fresh, open_key, also, credentials,
                      decided_by, fuzz)
    return pending if isinstance(pending, Result) else run_alone(target, pending)


def run_alone(target: Target, pending: Pending) -> Result:
    """Set up, send, read back and judge one prepared case."""
    result = pending.result
    try:
        started = time.monotonic()
        if target.control is not None and result.scenario.calls:
            result.setup = target.control.add(result.scenario)
        exchange = (target.send(result.request, pending.credentials) if result.wire is None
                    else target.send_wire(result.wire))
    except ControlError as error:
        return skip(result, f"control protocol: {error}")
    return finish_or_unread(target, pending, exchange, time.monotonic() - started)


@dataclass
class Pending:
    """A case ready to be set up and sent: its result so far, and how to judge its answer."""

    result: Result
    credentials: list[tuple[str, str]]
    calls: Sequence[Call]
    auth: TargetAuth
    also: tuple[RequirementId, ...]
    decided_by: RequirementId | None
    aged: float = 0.0  # a static profile's calls age with the wall clock (profile.py)
    timelines: tuple[Timeline, ...] = field(init=False)  # per reading of the request

    def __post_init__(self) -> None:
        """One timeline per reading of the request (a fuzzed one's), made once: prepare and
        finish ask the oracle through them, so a stance already asked is not asked again."""
        result, wire = self.result, self.result.wire
        views = (wire.views[:1] if wire and wire.exact else wire.views if wire
                 else (result.request,))
        self.timelines = tuple(Timeline(v, self.calls, result.scenario.controlled, self.auth)
                               for v in views)

    def expected(self, seconds: float) -> Expectation:
        """The expectation once ``seconds`` passed between set-up and answer."""
        wire = self.result.wire
        found = merged([_in_time(t, seconds, self.result.exchange, self.aged)
                        for t in self.timelines]
                       + ([] if wire is None or wire.exact else [SHAPE_REFUSED]))
        return _decided(also_checks(found, self.also), self.decided_by)


def prepare(target: Target, scenario: Scenario, request: KeepCallRequest,
            fresh: bool = True, open_key: bool = False, also: tuple[RequirementId, ...] = (),
            credentials: list[tuple[str, str]] | None = None,
            decided_by: RequirementId | None = None,
            fuzz: FuzzPlan | None = None) -> Pending | Result:
    """The case ready to send, or its result where it is skipped (``run``'s arguments)."""
    auth = traits(target, open_key)
    request = in_spelling(request, target.status_spelling)
    calls = scenario.calls if target.control else target.static_calls
    result = Result(scenario, request, Expectation({}, (), frozenset()))
    if credentials is None:
        credentials = target.credential_params(request, open_key)
    if credentials is not None and fuzz is not None:
        result.wire = build(fuzz, request, credentials, target.post_encoding == "query")
        result.request = result.wire.views[0]
    pending = Pending(result, credentials or [], calls, auth, also, decided_by,
                      target.calls_age())
    result.expectation = pending.expected(0.0)
    if credentials is None:
        return skip(result, "the case needs a secret that was not given")
    if fresh and target.control is None:
        return skip(result, "the scenario needs a control URL (--control-url)")
    if blocked := target.breakers.blocked(result.request):
        return skip(result, blocked)
    return pending


def finish_or_unread(target: Target, pending: Pending, exchange: Exchange, seconds: float,
                     reads: Reads | None = None, flags: bool = True) -> Result:
    """``finish``; where the case's calls could not be read back, ``unread``."""
    try:
        return finish(target, pending, exchange, seconds, reads, flags)
    except ControlError as error:
        return unread(pending.result, exchange, error)


def finish(target: Target, pending: Pending, exchange: Exchange, seconds: float,
           reads: Reads | None = None, flags: bool = True) -> Result:
    """Read back (``reads``: a batch did), judge and settle a case answered ``seconds`` after
    its set-up began; a ControlError where its own calls could not be read. ``flags=False``:
    nothing more may be sent (the run's circuit breaker opened), so the flags are not read
    and the answer is judged alone, as for a target without the control protocol. Every read
    is made first, then the case is judged once on all of them (deferral.py)."""
    result = pending.result
    result.exchange = exchange
    result.expectation = pending.expected(seconds)
    reply = _reply(result, exchange)
    flagged, drift = (_gather(target, result, reply, reads)
                      if target.control is not None and flags else (None, []))
    found = judged(reply, result.expectation, flagged)
    result.checks, result.format, result.outcome = found.checks, found.format, found.outcome
    if flagged is not None:
        result.before, result.after = dict(flagged.before), dict(flagged.last)
    _settle(target, result)
    result.checks += drift
    if _described(result):  # what the page never names trips no breaker
        result.checks += _tripped(target, result.request, exchange)
    return result


# A GET past the notes' ~4,000 characters may be refused (KC-PARAM-003).
LONG_URL_REFUSED = Choice("KC-PARAM-003", "long URL refused", "url")
# A request in a shape the page does not name may be refused, in any format (KC-HTTP-006).
SHAPE_REFUSED: Expectation = Expectation(
    {ERROR: (frozenset({Choice("KC-HTTP-006", "refused")}),)}, (), frozenset(), {ERROR: ()},
    frozenset({"XML", "HTML", "TEXT"}))


def in_spelling(request: KeepCallRequest, spelling: str | None) -> KeepCallRequest:
    """A status list spelled the way the target takes it: ``ongoing, next`` for a target that
    takes only the page's printed spelling (the probe found it), as sent otherwise."""
    if spelling != "spaced":
        return request
    spaced = {tight: tight.replace(",", ", ") for tight in STATUS_VALUES if "," in tight}
    params = tuple((n, spaced.get(v, v) if n == P_STATUS else v) for n, v in request.params)
    return replace(request, params=params)


def traits(target: Target, open_key: bool = False) -> TargetAuth:
    """What the oracle must know of the target: its keys, the spelling its probe found."""
    return replace(keys(target.token_required, open_key), status_spelling=target.status_spelling)


def keys(token_required: bool | None, open_key: bool) -> TargetAuth:
    """The target's keys as a case uses them, for its verdict and its marker alike: the open
    key never needs a token; the other as the target's ``token_required`` says (None: either,
    KC-AUTH-011)."""
    return TargetAuth(token_required=False if open_key else token_required)


def _in_time(timeline: Timeline, seconds: float, exchange: Exchange | None,
             aged: float = 0.0) -> Expectation:
    """The expectation once the time between set-up (``aged`` seconds before the request
    was sent) and answer is allowed for, and a GET longer than the notes' 4,000 characters (a
    POST's with the query string too) may be refused."""
    expectation = timeline.over(aged, aged + elapsed_bound(seconds))
    if exchange is None or not beyond_the_page(exchange):
        return expectation
    refused = Expectation({ERROR: (frozenset({LONG_URL_REFUSED}),)}, (), expectation.formats,
                          {ERROR: ()}, frozenset({"XML"}))
    return merged([expectation, refused])


def _reply(result: Result, exchange: Exchange) -> Reply:
    """The answer judged apart from the flags: a fuzzed request's by what holds for any."""
    if result.wire is not None and not result.wire.exact:
        return invariant_reply(exchange)
    return reply_checks(exchange, result.request, result.expectation)


def _gather(target: Target, result: Result, reply: Reply,
            reads: Reads | None) -> tuple[Flagged, list[Check]]:
    """The flags of the case's calls before and after (and the drift of earlier cases' calls
    read with them), then, where the first read leaves a change waiting for a call's start,
    the flags once the clock passed the starts, or why it could not move."""
    assert target.control is not None
    before = {c.call_id: c.flags for c in result.scenario.calls}
    if reads is None:
        sample = read_back(target).sample(before)
        reads = Reads(target.control.read([*before, *sample]), sample)
    drift = read_back(target).drift(reads.sample, reads.flags)
    starts = [c.offset_seconds for c in result.scenario.calls if c.state == "upcoming"]
    flagged = Flagged(before, own(before, reads.flags), bool(starts))
    if waits(reply, result.expectation, flagged) is None:
        return flagged, drift
    if target.clock_shared:  # judged again in the run's exclusive part (--workers)
        result.deferred = True
        return flagged, drift
    pinned = target.clock_pinned
    if pinned is not None or not target.control.advance(max(starts) + START_MARGIN_SECONDS):
        return replace(flagged, unmoved=pinned or "the target has no clock"), drift
    target.forget_token()
    return replace(flagged, later=target.control.flags(before)), drift


def _settle(target: Target, result: Result) -> None:
    """Remember the case's calls once their final flags are known: answered, judged without
    failure, no change left waiting for a call's start."""
    exchange = result.exchange
    if (result.after is None or result.failures or result.deferred or exchange is None
            or exchange.error or result.expectation.deferrable):
        return
    read_back(target).settle(result.after)


def _decided(expectation: Expectation, requirement: RequirementId | None) -> Expectation:
    if requirement is None:
        return expectation
    because: dict[Outcome, tuple[RequirementId, ...]] = {
        o: (requirement,) for o in expectation.because}
    return replace(expectation, trace=(requirement,), because=because)


def also_checks(expectation: Expectation, requirements: tuple[RequirementId, ...]) -> Expectation:
    if not requirements:
        return expectation
    because = {o: (*rs, *requirements) if not o.is_error else rs
               for o, rs in expectation.because.items()}
    trace = tuple(dict.fromkeys((*expectation.trace, *requirements)))
    return replace(expectation, because=because, trace=trace)


def _described(result: Result) -> bool:
    """Whether the request is one the page describes: a plain GET or POST (a fuzzed one in
    the plain shape with text values), a GET within the notes' length. An odd shape, bytes
    that are not UTF-8 or an over-long URL may be refused or dropped by a front end; that is
    KC-HTTP-004 (SHOULD), never a class of requests the target does not serve."""
    exchange = result.exchange
    plain = result.wire is None or result.wire.exact
    return plain and exchange is not None and not beyond_the_page(exchange)


def _tripped(target: Target, request: KeepCallRequest, exchange: Exchange) -> list[Check]:
    """The classes of ``request`` the target stopped answering, while it answers a probe of
    another kind, as failures (breaker.py); their later cases are not sent."""
    found, breakers = [], target.breakers
    for name in breakers.note(request, exchange.error_kind):
        if breakers.circuit_open(target.client.consecutive_failures):
            break  # the run stops here: no probe; the case's own checks are its evidence
        probe = probe_for(name)
        credentials = target.credential_params(probe)
        if credentials is not None and target.send(probe, credentials).ok:
            trip = target.breakers.trip(name, exchange.error)
            found.append(Check(trip.requirement, "fail", trip.message, Cause.NO_ANSWER))
    return found


def skip(result: Result, why: str) -> Result:
    result.skipped = why
    result.checks = [Check(r, "not-tested", why) for r in result.expectation.trace]
    return result


def unread(result: Result, exchange: Exchange, error: ControlError) -> Result:
    """A case sent whose calls could not be read back: not tested, but an answer that broke
    and the drops on its way are evidence all the same (nothing absorbed in silence)."""
    skip(result, f"control protocol: {error}")
    result.exchange = exchange
    available = (availability(exchange, result.request) if _described(result)
                 else "KC-HTTP-004")
    result.checks = [*delivery_checks(exchange, available), *result.checks]
    return result
