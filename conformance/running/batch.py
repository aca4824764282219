"""Matrix cases, one at a time or in batches: set up together, sent together, read back together.

A batch's cases are set up with one ``POST {control}/calls``, their requests sent with up to
``--concurrency`` in flight on the client's loop (``Client.send_many``), and their calls read
back with one ``POST {control}/flags`` where the target serves it (else one GET per call, as
many in flight), together with each case's sample of earlier cases' calls. Then each case is
judged exactly as alone (``runner.finish``), in order. pytest keeps one item per case: the first
item of a batch runs it (``Batches``), the others record the results kept for them.

Timing: a case is answered some time after its batch's set-up began, and its expectation allows
for that time as a case run alone does (timeline.py). A case with a call near an edge (an
upcoming call starting within EDGE_SECONDS of now or of the end of next's window, a call that
ended less than EDGE_SECONDS ago) would be judged more loosely there, so it runs after its
batch: alone where its judging may move the target's clock (an upcoming call), else with at
most a window of such cases, set up together and sent in one round (as close to their set-up
as one case alone). Calls never cross cases: every case numbers its own calls (scenarios.py),
so an extension lookup (``last``, ``next``, ``ongoing``) finds only its case's calls, and a
callID names one call.

A target that dies: the requests in flight (``Batches.window``) start at one after the
preflight (slow start: cases run alone until requests are answered) and grow by one per request
answered after each batch where none failed and the target answered about as fast as it ever
did (the median time a request of the batch took, within SLOWER times the fastest batch's and
SLACK_SECONDS), up to ``--concurrency``; a batch slower than BATCH_SECONDS, or where a request
failed, halves them (down to one case at a time). The target's speed is judged by its answers'
times, not by the batch's: a batch holds BATCH_PER_SLOT cases per request in flight, so its
time grows with the window through the client's own CPU even where the target is not slowed
(a slow but healthy target, a busy machine). So a target dying early is seen after a few
requests, one slowing down under load stops the window growing, and one dying later has at
most ``--concurrency`` of them in flight. Once the run's circuit breaker opens
(``Breakers.circuit``), no further request of the batch starts: the cases sent are judged on
their answers alone (no read-back, no probe), the others are not tested, and the run stops
once the batch's items have recorded them (plugin.py).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterable, Sequence
from functools import partial
from typing import Final

from conformance.catalog.requirements import RequirementId
from conformance.catalog.spec import NEXT_WINDOW_SECONDS, P_RESPONSE_TYPE
from conformance.domain.matrix import Case
from conformance.domain.model import ERROR, Credential, Expectation, KeepCallRequest, Scenario
from conformance.domain.oracle import TargetAuth, expect
from conformance.domain.scenarios import Numbering
from conformance.judging.checks import FORMAT_REQUIREMENT
from conformance.running.readback import Reads, read_back
from conformance.running.runner import (
    Pending,
    Result,
    also_checks,
    finish_or_unread,
    keys,
    prepare,
    run_alone,
    skip,
    traits,
)
from conformance.wire.control import ControlError
from conformance.wire.target import Target
from conformance.wire.validators import CONTENT_TYPE_SEEN, DOCTYPE_SEEN, ENVELOPE_SEEN, SHAPE_SEEN

UNSENT: Final = "not sent: the run's circuit breaker opened during its batch"

BATCH_PER_SLOT: Final = 8  # cases in a batch per request in flight (--concurrency)
BATCH_SECONDS: Final = 2.0  # a batch's requests should be answered within this
SLOWER: Final = 2.0  # a target answering this many times slower than at its fastest is loaded
SLACK_SECONDS: Final = 0.02  # ... beyond this: the client's own turns on its loop, jitter
EDGE_SECONDS: Final = 5  # a call this close to an edge runs alone (BATCH_SECONDS and a margin)
_EDGES: Final = {"upcoming": (0, NEXT_WINDOW_SECONDS), "finished": (0,)}


def batch_size(concurrency: int) -> int:
    """Cases per batch: one (today's serial run) at concurrency 1."""
    return 1 if concurrency <= 1 else BATCH_PER_SLOT * concurrency


def near_edge(scenario: Scenario) -> bool:
    """Whether a call of ``scenario`` sits within EDGE_SECONDS of a state's or next's edge."""
    return any(0 <= call.offset_seconds - edge <= EDGE_SECONDS for call in scenario.calls
               for edge in _EDGES.get(call.state, ()))


class Batches:
    """The matrix cases of a run, in the order pytest runs their items, run in batches."""

    def __init__(self, target: Target, numbering: Numbering, cases: Sequence[Case],
                 concurrency: int) -> None:
        self.target, self.numbering = target, numbering
        self._cases = list(cases)
        self._at = {case.id: i for i, case in enumerate(self._cases)}
        self.limit, self.window = max(1, concurrency), 1  # requests in flight: most, next
        self.fastest = float("inf")  # the median seconds a request took, the fastest batch
        self._ready: dict[str, Result] = {}

    @property
    def size(self) -> int:
        """Cases in the next batch."""
        return batch_size(self.window)

    def holds(self, case: Case | None) -> bool:
        """Whether ``case``'s result is kept from a batch (its item sends nothing)."""
        return case is not None and case.id in self._ready

    def result(self, case: Case) -> Result:
        """The case's result: kept from its batch, or its batch run now (it is the first)."""
        if (ready := self._ready.pop(case.id, None)) is not None:
            return ready
        at = self._at.get(case.id)
        if at is None:
            return run_case(self.target, case, self.numbering)
        client = self.target.client
        sent, failures, started = (client.requests_sent, client.transport_failures,
                                   time.monotonic())
        if self.size <= 1:
            results = {case.id: run_case(self.target, case, self.numbering)}
            took = time.monotonic() - started
        else:
            results, took = run_batch(self.target, self._cases[at:at + self.size],
                                      self.numbering, self.window)
        failed = client.transport_failures - failures
        self.window = next_window(self.window, self.limit, took, failed,
                                  client.requests_sent - sent - failed,
                                  self._loaded(results.values()))
        self._ready.update(results)
        return self._ready.pop(case.id)

    def _loaded(self, results: Iterable[Result]) -> bool:
        """Whether the batch's requests took much longer than the fastest batch's: the
        target slows down under the requests in flight (or the network did)."""
        times = [r.exchange.elapsed for r in results if r.exchange is not None]
        if not times:
            return False
        median = statistics.median(times)
        self.fastest = min(self.fastest, median)
        return median > SLOWER * self.fastest + SLACK_SECONDS


def next_window(window: int, limit: int, took: float, failed: int, answered: int,
                loaded: bool) -> int:
    """Slow start: the requests in flight halve after a batch slower than BATCH_SECONDS or
    with a failed request; they are kept while the target answers slower than at its fastest
    (``loaded``); else they grow by one per request answered, up to ``limit`` (a batch of
    cases that were not sent says nothing of the target)."""
    return (max(1, window // 2) if failed or took > BATCH_SECONDS else
            window if loaded else min(limit, window + answered))


def run_batch(target: Target, cases: Sequence[Case], numbering: Numbering, window: int
              ) -> tuple[dict[str, Result], float]:
    """Each case's result, and the seconds the batch's requests took (``window`` of them in
    flight). Numbers are handed out in the cases' order, as a serial run does."""
    made = [(case, *case.instantiate(numbering)) for case in cases]
    results: dict[str, Result] = {}
    together: list[tuple[str, Pending]] = []
    for case, scenario, request in made:
        if not near_edge(scenario):
            prepared = prepare_case(target, case, scenario, request)
            if isinstance(prepared, Result):
                results[case.id] = prepared
            else:
                together.append((case.id, prepared))
    took = _together(target, together, results, window)
    edges: list[tuple[str, Pending]] = []
    for case, scenario, request in made:  # near an edge: after the batch, alone or few
        if near_edge(scenario):
            prepared = prepare_case(target, case, scenario, request)
            if isinstance(prepared, Pending) and not _moves_clock(scenario):
                edges.append((case.id, prepared))
                continue
            results[case.id] = (prepared if isinstance(prepared, Result)
                                else skip(prepared.result, UNSENT) if _open(target)
                                else run_alone(target, prepared))
    for at in range(0, len(edges), window):  # one round each: set up as close as alone
        _together(target, edges[at:at + window], results, window)
    return results, took


def _moves_clock(scenario: Scenario) -> bool:
    """Whether judging a case may move the target's clock (past an upcoming call's start:
    runner.py), which would age the calls of the cases set up with it before they are judged."""
    return any(call.state == "upcoming" for call in scenario.calls)


def _open(target: Target) -> bool:
    """Whether the run's circuit breaker is open: nothing more is sent."""
    return target.breakers.circuit_open(target.client.consecutive_failures)


def _together(target: Target, together: list[tuple[str, Pending]],
              results: dict[str, Result], window: int) -> float:
    """Set up, send and read back the batch, then judge each case in order."""
    if not together:
        return 0.0
    control, started = target.control, time.monotonic()
    scenarios = [p.result.scenario for _, p in together if p.result.scenario.calls]
    try:
        if control is not None and scenarios:
            control.add_many(scenarios)
    except ControlError as error:
        results.update({i: skip(p.result, f"control protocol: {error}") for i, p in together})
        return time.monotonic() - started
    sent = target.client.send_many([target.outbound(p.result.request, p.credentials)
                                    for _, p in together], limit=window,
                                   stop=partial(_open, target))
    results.update({i: skip(p.result, UNSENT) for i, p in together[len(sent):]})
    flags = not _open(target)  # read back only while the circuit is closed
    reads = (_read(target, [p for _, p in together[:len(sent)]]) if flags
             else [None] * len(sent))
    for (case_id, pending), (exchange, answered), read in zip(together[:len(sent)], sent,
                                                              reads, strict=True):
        if control is not None and pending.result.scenario.calls:
            pending.result.setup_line = partial(control.setup_line, pending.result.scenario)
        results[case_id] = finish_or_unread(target, pending, exchange, answered - started,
                                            read, flags)
    return max((answered for _, answered in sent), default=started) - started


def _read(target: Target, pendings: Sequence[Pending]) -> list[Reads | None]:
    """Every case's calls and read-back sample, read with one request where served."""
    if target.control is None:
        return [None] * len(pendings)
    settled = read_back(target)
    owned = [{c.call_id: c.flags for c in p.result.scenario.calls} for p in pendings]
    samples = [settled.sample(own) for own in owned]
    flags = target.control.read([i for ids, s in zip(owned, samples, strict=True)
                                 for i in (*ids, *s)])
    return [Reads(flags, sample) for sample in samples]


def prepare_case(target: Target, case: Case, scenario: Scenario,
                 request: KeepCallRequest) -> Pending | Result:
    """A matrix case ready to send, or its result where it is skipped."""
    open_key = case.part == "open-key"
    if open_key and not target.credentials.open_api_key:
        result = Result(scenario, request, case_expectation(case, scenario, request,
                                                            traits(target, open_key)))
        return skip(result, "no API key without authentication was given")
    return prepare(target, scenario, request, fresh=case.needs_fresh_scenario,
                   open_key=open_key, also=_case_also(case))


def run_case(target: Target, case: Case, numbering: Numbering) -> Result:
    """One matrix case alone: set up, sent, read back, judged."""
    prepared = prepare_case(target, case, *case.instantiate(numbering))
    return prepared if isinstance(prepared, Result) else run_alone(target, prepared)


def case_expectation(case: Case, scenario: Scenario, request: KeepCallRequest,
                     auth: TargetAuth) -> Expectation:
    """What a matrix case is judged on: the one place both its run and its marker ask."""
    return also_checks(expect(request, scenario.calls, scenario.controlled, auth),
                       _case_also(case))


def _case_also(case: Case) -> tuple[RequirementId, ...]:
    """A valid key and token in the auth part also checks that they are accepted."""
    valid = (case.api_key, case.token) == (Credential.VALID, Credential.VALID)
    return ("KC-AUTH-005",) if case.part == "auth" and valid else ()


# Checked on every answer in a format: the rendering clauses, and what is observed of it.
_FORMAT_REQUIREMENTS: dict[str, tuple[RequirementId, ...]] = {
    "XML": ("KC-XML-001", "KC-XML-002", "KC-XML-003", "KC-XML-004", DOCTYPE_SEEN),
    "HTML": ("KC-RT-010", SHAPE_SEEN), "TEXT": ("KC-RT-010", SHAPE_SEEN)}


def case_requirements(case: Case, token_required: bool | None) -> list[RequirementId]:
    """The requirements a case checks, known before it runs: its expectation at set-up.
    ``token_required``: whether the target's key needs a token, as the run will judge it
    (``Settings.needs_token``). A run marks its cases from the expectation it judged each on
    (``requirements_of``), and asks this only of a case that never got one."""
    scenario, request = case.instantiate(Numbering())
    expectation = case_expectation(case, scenario, request,
                                   keys(token_required, case.part == "open-key"))
    return requirements_of(expectation, request)


def requirements_of(expectation: Expectation, request: KeepCallRequest) -> list[RequirementId]:
    """The requirements a case on ``request`` judged on ``expectation`` checks, for its
    marker: the oracle's trace, the open points its readings reach, and the rendering."""
    ids: set[RequirementId] = {*expectation.trace, "KC-HTTP-004", "KC-RT-008", "KC-FLAG-001",
                               "KC-FLAG-002", CONTENT_TYPE_SEEN}
    points = {choice.requirement for readings in expectation.allowed.values()
              for reading in readings for choice in reading}
    ids.update(points)
    if points:
        ids.add("KC-READ-001")  # the run-wide comparison of readings (consistency.py)
    formats = expectation.formats | expectation.error_formats  # as checks.format_checks tries
    for fmt in formats:
        ids.update(_FORMAT_REQUIREMENTS.get(fmt, ()))
    if ERROR in expectation.allowed:
        ids.add("KC-HTTP-005")  # observed on every error answer (checks.judgement)
        if "XML" in formats:  # judged on every XML error answer (checks._xml_checks)
            ids.update(("KC-XML-005", ENVELOPE_SEEN))
    if expectation.error_formats:
        ids.add("KC-RT-009")
    if expectation.deferrable:
        ids.add("KC-TYPE-007")
    asked = request.get(P_RESPONSE_TYPE)
    ids.add(FORMAT_REQUIREMENT.get(asked, "KC-RT-005"))
    return sorted(ids)
