"""The oracle once per case: calls in one stance get one expectation, and a plain case asks once.

A case's expectation allows for the time between its set-up and its answer (timeline.py); the
oracle is asked once per stance the calls may take in that window, not once per offset, and a
case's prepare and finish share what was asked. The count is taken on real runs of matrix cases
against the reference server (loopback, this process).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace

import pytest
from reference_helpers import started

from conformance.catalog.spec import NEXT_WINDOW_SECONDS, STATUS_VALUES
from conformance.domain import timeline
from conformance.domain.matrix import all_cases
from conformance.domain.model import Call, Expectation, Flags, KeepCallRequest, merged
from conformance.domain.oracle import TargetAuth, expect
from conformance.domain.scenarios import SCENARIOS, Numbering
from conformance.domain.timeline import Timeline, elapsed_bound, stance
from conformance.reference import ReferenceServer
from conformance.running.batch import run_case
from conformance.wire.control import Control
from conformance.wire.target import Credentials, Target
from conformance.wire.transport import Client, TransportSettings

NUMBER = "61234567"
STATES = ("ongoing", "upcoming", "finished")
OFFSETS = (0, 1, 2, 30, 31, 59, 60, 61, 62, 150, 300)


def _ranked(calls: Sequence[Call]) -> list[Call]:
    """The same calls in the same stance at other offsets: each state's offsets replaced by
    their rank (ties kept), an upcoming call's kept on its side of next's window edge."""
    found = []
    for call in calls:
        same = sorted({c.offset_seconds for c in calls if c.state == call.state})
        rank = same.index(call.offset_seconds) + 1
        side = call.offset_seconds - NEXT_WINDOW_SECONDS
        offset = (rank if call.state != "upcoming" or side < 0
                  else NEXT_WINDOW_SECONDS if side == 0 else NEXT_WINDOW_SECONDS + rank)
        found.append(replace(call, offset_seconds=offset))
    return found


def _draws(count: int) -> Iterator[tuple[list[Call], KeepCallRequest]]:
    """Seeded draws: up to four calls on one number, a lookup of every status or a callID."""
    draw = random.Random(21)
    for i in range(count):
        calls = [Call(f"c{i}-{j}", *((NUMBER, "+3670000001") if draw.random() < 0.5
                                     else ("+3670000001", NUMBER)),
                      draw.choice(STATES), draw.choice(OFFSETS),  # type: ignore[arg-type]
                      Flags()) for j in range(draw.randint(1, 4))]
        status = draw.choice((*STATUS_VALUES, None))
        params = ((("callID", calls[0].call_id),) if status is None
                  else (("extension", NUMBER), ("status", status)))
        yield calls, KeepCallRequest((("action", "KeepCall"), *params))


def test_calls_in_one_stance_get_one_expectation() -> None:
    """What lets the oracle be asked once per stance: it reads offsets only as ``stance``
    does (the order of calls in one state, an upcoming call's side of next's window)."""
    for calls, request in _draws(400):
        ranked = _ranked(calls)
        assert stance(ranked) == stance(calls)
        assert expect(request, ranked) == expect(request, calls), (calls, request)


def test_a_window_is_what_every_way_the_calls_may_stand_allows() -> None:
    """The expectation over a window is the union over every combination of the calls'
    positions, as it was before the oracle was asked once per stance: the same verdicts (a
    combination repeated in one stance no longer repeats its readings; they are a set to
    every reader: ``decisive``, the report's list of readings)."""
    for (calls, request), seconds in zip(_draws(150), (0.0, 0.4, 2.5, 61.0, 130.0) * 30,
                                         strict=True):
        high = elapsed_bound(seconds)
        every = [expect(request, list(combination)) for combination in itertools.product(
            *(timeline.positions(c, 0.0, high) for c in calls))]
        found = Timeline(request, calls, (), TargetAuth()).over(0.0, high)
        assert _as_sets(found) == _as_sets(merged(every)), (calls, request, seconds)


def _as_sets(expectation: Expectation) -> Expectation:
    """The expectation with each outcome's readings as a sorted, distinct tuple."""
    return replace(expectation, allowed={o: tuple(sorted(set(r), key=lambda c: sorted(map(str, c))))
                                         for o, r in expectation.allowed.items()})


def test_calls_on_either_side_of_the_window_edge_are_two_stances() -> None:
    """The stance keeps what the oracle reads: a next lookup finds a call inside the window,
    not one past it."""
    inside, outside = (Call("u", NUMBER, "+3670000001", "upcoming", offset)
                       for offset in (30, 90))
    request = KeepCallRequest((("action", "KeepCall"), ("extension", NUMBER), ("status", "next")))
    assert stance([inside]) != stance([outside])
    assert expect(request, [inside]).outcomes != expect(request, [outside]).outcomes


class _Counted:
    """``expect`` as the timeline calls it, counted."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, request: KeepCallRequest, calls: Sequence[Call],
                 controlled: Sequence[str], auth: TargetAuth) -> Expectation:
        self.calls += 1
        return expect(request, calls, controlled, auth)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> _Counted:
    counter = _Counted()
    monkeypatch.setattr(timeline, "expect", counter)
    return counter


def test_a_window_wider_than_the_first_asks_only_for_the_stances_it_adds(
        counted: _Counted) -> None:
    call = Call("u", NUMBER, "+3670000001", "upcoming", 62)
    request = KeepCallRequest((("action", "KeepCall"), ("extension", NUMBER), ("status", "next")))
    line = Timeline(request, [call], (), TargetAuth())
    first = line.over(0.0, elapsed_bound(0.0))
    assert (counted.calls, line.over(0.0, elapsed_bound(0.2))) == (1, first)
    wider = line.over(0.0, elapsed_bound(3.0))  # its start may have passed the window's edge
    assert counted.calls > 1 and wider.outcomes > first.outcomes


@contextmanager
def _target(server: ReferenceServer) -> Iterator[Target]:
    credentials = Credentials(server.api_key, None, server.username, server.password)
    with Client(TransportSettings(retries=0), credentials.redactor()) as client:
        yield Target(server.api_url, credentials, client, Control(client, server.control_url))


def test_a_plain_case_asks_the_oracle_once(counted: _Counted) -> None:
    """A matrix case on each scenario away from the edges, run as the suite runs it (set up,
    sent, read back, judged): the oracle is asked once, before sending, and the answer is
    judged on what it said."""
    cases = {case.scenario: case for case in all_cases(quick=True)
             if case.part == "lookup" and case.scenario in SCENARIOS}
    numbering = Numbering(7)
    with started(ReferenceServer()) as server, _target(server) as target:
        for case in cases.values():
            before = counted.calls
            result = run_case(target, case, numbering)
            assert result.skipped is None and result.exchange is not None, case.id
            assert not result.failures, (case.id, result.failures)
            assert counted.calls - before == 1, case.id
    assert len(cases) == len(SCENARIOS)


def test_a_call_moved_in_time_keeps_everything_else() -> None:
    """``_moved`` builds the call field by field (``replace`` costs twice as much on the
    oracle's hottest path): a field it forgot would read as its default here."""
    call = Call("c-1", "6100", "6200", "upcoming", 30, Flags(True, True, True))
    assert timeline._moved(call, 7, "ongoing") == replace(call, offset_seconds=7,
                                                          state="ongoing")
    assert timeline._moved(call, 9) == replace(call, offset_seconds=9)
