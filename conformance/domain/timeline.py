"""Calls as they may stand when a request arrives: time passes between set-up and request.

The control protocol sets a call up relative to the target's clock; the request reaches the
target some fraction of a second later (more with ``--rate`` or a remote target). A call near
an edge (the start of an upcoming call, the end of the one-minute window) may have crossed it,
and what a target does when an upcoming call's start passes is open (control protocol 1.1:
it may become ongoing or stay upcoming), as is whether an ongoing call runs on forever: a call
that may have been ongoing for CALLS_RUN_AT_LEAST_SECONDS may also have ended. The oracle is
asked once per way the calls may stand and the outcomes are united, so no outcome that depends
only on such a transition fails.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from conformance.catalog.spec import NEXT_WINDOW_SECONDS, CallState
from conformance.domain.model import Call, Expectation, KeepCallRequest, merged
from conformance.domain.oracle import TargetAuth, expect


def _whole(seconds: float) -> int:
    """A whole offset on the same side of every edge (0 and the window's end) as ``seconds``."""
    for edge in (0, NEXT_WINDOW_SECONDS):
        if edge < seconds < edge + 1:
            return edge + 1
        if edge - 1 < seconds < edge:
            return edge - 1 if edge else 0
    return round(seconds)


# A call set up as ongoing (or once its start has passed) runs at least this long before a
# target may end it: the control protocol lets a target end ongoing calls, but says not when;
# a minute keeps every matrix case (answered within seconds) on the calls it set up.
CALLS_RUN_AT_LEAST_SECONDS = 60


def _ended(call: Call, running: float) -> list[Call]:
    """The call finished, if it may have been ongoing for ``running`` seconds (at most) since
    its set-up or its start: ended just now, or as long ago as it may have."""
    if running <= CALLS_RUN_AT_LEAST_SECONDS:
        return []
    ago = {0, math.floor(running - CALLS_RUN_AT_LEAST_SECONDS)}
    return [_moved(call, o, "finished") for o in sorted(ago)]


def _moved(call: Call, offset: int, state: CallState | None = None) -> Call:
    """``call`` at another offset (and state): ``dataclasses.replace`` without its cost, on
    the oracle's hottest path."""
    return Call(call.call_id, call.caller, call.called, state or call.state, offset, call.flags)


def positions(call: Call, low: float, high: float) -> list[Call]:
    """Each distinct way ``call`` may stand after ``low`` to ``high`` seconds have passed."""
    if call.state == "finished":
        offsets = {call.offset_seconds + round(low), call.offset_seconds + round(high)}
        return [_moved(call, o) for o in sorted(offsets)]
    if call.state == "ongoing":
        offsets = {call.offset_seconds + round(low), call.offset_seconds + round(high)}
        return [*(_moved(call, o) for o in sorted(offsets)), *_ended(call, high)]
    earliest, latest = call.offset_seconds - high, call.offset_seconds - low
    starts = [s for s in (latest, earliest) if s > 0]
    if earliest < NEXT_WINDOW_SECONDS < latest:
        starts.append(NEXT_WINDOW_SECONDS)
    variants = [_moved(call, _whole(s)) for s in starts]
    if earliest <= 0:  # its start may have passed: ongoing, or still upcoming (open)
        variants += [_moved(call, _whole(-earliest), "ongoing"), _moved(call, 0),
                     *_ended(call, -earliest)]
    return list(dict.fromkeys(variants))


def stance(calls: Sequence[Call]) -> tuple[tuple[str, str, int, int], ...]:
    """What the oracle can tell of how ``calls`` stand: each call's state, its rank among the
    calls in the same state (ties kept), and for an upcoming call its side of next's window
    edge. The oracle compares offsets with nothing else (oracle.py: ``in_window``, ``pick``,
    KC-STATUS-003), so calls in one stance get one expectation (tests/test_timeline.py)."""
    offsets: dict[str, list[int]] = {}
    for call in calls:
        offsets.setdefault(call.state, []).append(call.offset_seconds)
    ranks = {state: sorted(set(found)) for state, found in offsets.items()}
    return tuple((c.call_id, c.state, ranks[c.state].index(c.offset_seconds),
                  _side(c.offset_seconds) if c.state == "upcoming" else 0) for c in calls)


def _side(offset: int) -> int:
    return (offset > NEXT_WINDOW_SECONDS) - (offset < NEXT_WINDOW_SECONDS)


class Timeline:
    """One request on some calls over time: the oracle asked once per stance the calls may
    take, whatever window is asked for later (a window wider than the first asks only for
    the stances it adds; one where the calls may stand as in an earlier one asks nothing)."""

    def __init__(self, request: KeepCallRequest, calls: Sequence[Call],
                 controlled: Sequence[str], auth: TargetAuth) -> None:
        self.request, self.calls, self.controlled, self.auth = request, calls, controlled, auth
        self._known: dict[tuple[tuple[str, str, int, int], ...], Expectation] = {}
        self._united: dict[tuple[tuple[Call, ...], ...], Expectation] = {}

    def over(self, low: float = 0.0, high: float = 0.0) -> Expectation:
        """What the spec allows when ``low`` to ``high`` seconds have passed since the calls
        were set up."""
        where = tuple(tuple(positions(c, low, high)) for c in self.calls)
        if where not in self._united:
            self._united[where] = self._unite(where)
        return self._united[where]

    def _unite(self, where: tuple[tuple[Call, ...], ...]) -> Expectation:
        """The union over every stance the calls may take, each call at one of its places."""
        stances: dict[tuple[tuple[str, str, int, int], ...], Sequence[Call]] = {}
        for combination in itertools.product(*where):
            stances.setdefault(stance(combination), combination)
        found = [self._expect(key, calls) for key, calls in stances.items()]
        return found[0] if len(found) == 1 else merged(found)

    def _expect(self, key: tuple[tuple[str, str, int, int], ...],
                calls: Sequence[Call]) -> Expectation:
        if key not in self._known:
            self._known[key] = expect(self.request, list(calls), self.controlled, self.auth)
        return self._known[key]


def expect_over(request: KeepCallRequest, calls: Sequence[Call], controlled: Sequence[str],
                auth: TargetAuth, low: float = 0.0, high: float = 0.0) -> Expectation:
    """What the spec allows for ``request`` when ``low`` to ``high`` seconds have passed since
    the calls were set up."""
    return Timeline(request, calls, controlled, auth).over(low, high)


# A target may store times as whole seconds: between set-up and request its clock may read up
# to a second more than the time that passed (set up at 10.9 s, stored as 10; asked at 11.0).
CLOCK_RESOLUTION_SECONDS = 1.0


def elapsed_bound(seconds: float) -> float:
    """Seconds measured on this side, with a margin for the target's clock resolution."""
    return math.ceil(seconds * 100) / 100 + CLOCK_RESOLUTION_SECONDS + 0.05
