"""What the reference server holds: its clock, the calls with their flags, and issued tokens.

Calls keep absolute times on the server's clock, so their state is derived at lookup time and
moves with /clock: an upcoming call whose start has passed is ongoing, or stays upcoming (a late
call) when the store is built with ``late_calls_stay_upcoming``. Changes deferred to a call's
start (the defer_upcoming switch) wait in the store until a read of the state settles them.
"""

from __future__ import annotations

import heapq
import itertools
import math
import secrets
import string
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from conformance.catalog.spec import FLAGS, CallState, Flag

_TOKEN_ALPHABET = string.ascii_letters + string.digits
_TOKEN_LENGTH = 32


class Clock:
    """Monotonic real time plus an offset that only moves forward; ``whole`` counts whole
    seconds only (a server that stores times as whole seconds: the clock_resolution switch)."""

    def __init__(self, whole: bool = False) -> None:
        self._offset = 0.0
        self.whole = whole

    def now(self) -> float:
        now = time.monotonic() + self._offset
        return float(math.floor(now)) if self.whole else now

    def advance(self, seconds: float) -> None:
        self._offset += seconds


@dataclass
class CallRecord:
    """A provisioned call: parties, absolute times and the three flags the API changes."""

    call_id: str
    caller: str
    called: str
    start: float
    end: float | None = None
    upcoming: bool = False
    kept: bool = False
    protected: bool = False
    recording: bool = False
    stays_upcoming: bool = False  # past its start, a late call that has not begun
    starts_on_its_second: bool = False  # whole seconds: started once the clock reads its start
    lasts_until: float | None = None  # ongoing by then, it ends then (the calls_end switch)

    def state(self, now: float) -> CallState:
        if self.end is not None:
            return "finished"
        if self.upcoming and (self.stays_upcoming or self.before_start(now)):
            return "upcoming"
        return "ongoing"

    def before_start(self, now: float) -> bool:
        """An upcoming call whose start the clock has not passed.

        Whole seconds, rounded, so that the milliseconds between provisioning and the request
        do not move a call across the boundary its offset put it on: a call provisioned as
        upcoming stays before its start through its start second (offset 0). A whole-second
        clock (clock_resolution) counts it started from its start second on, as such servers do.
        """
        until = self.seconds_until_start(now)
        return self.end is None and self.upcoming and (
            until > 0 if self.starts_on_its_second else until >= 0)

    def seconds_until_start(self, now: float) -> int:
        return round(self.start - now)

    def parties(self) -> tuple[str, str]:
        return (self.caller, self.called)

    def set_flag(self, flag: Flag, value: bool) -> None:
        setattr(self, flag, value)

    def flags_json(self) -> dict[str, object]:
        return {"callID": self.call_id, **{f: getattr(self, f) for f in FLAGS}}


class Store:
    """Calls by ID and by party number, controlled extensions, tokens by value."""

    def __init__(self, clock: Clock | None = None, late_calls_stay_upcoming: bool = False,
                 calls_end: float = 0.0) -> None:
        self.clock = clock or Clock()
        self.late_calls_stay_upcoming = late_calls_stay_upcoming
        self.calls_end = calls_end
        self._ends: list[tuple[float, int, CallRecord]] = []  # a heap: calls that will end
        self._order = itertools.count()
        self.calls: dict[str, CallRecord] = {}
        self.controlled: set[str] = set()
        self.tokens: dict[str, float] = {}
        self._by_number: dict[str, dict[str, CallRecord]] = {}
        self._deferred: dict[str, list[Callable[[], None]]] = {}
        self._pending: dict[str, list[Callable[[CallRecord], None]]] = {}  # by number
        self.last_found: CallRecord | None = None  # the call the last request identified
        self.later: list[Callable[[], None]] = []  # run when the next API request arrives

    def run_later(self) -> None:
        """Run what an earlier request left for the next one (only faults leave anything)."""
        while self.later:
            self.later.pop(0)()

    def replace_all(self, calls: Iterable[CallRecord], controlled: Iterable[str]) -> None:
        self.calls.clear()
        self._by_number.clear()
        self._deferred.clear()
        self._pending.clear()
        self._ends.clear()
        self.controlled = set()
        self.add(calls, controlled)

    def add(self, calls: Iterable[CallRecord], controlled: Iterable[str]) -> None:
        for call in calls:
            self._remove(call.call_id)
            call.stays_upcoming = self.late_calls_stay_upcoming
            call.starts_on_its_second = self.clock.whole
            if self.calls_end and call.end is None:
                call.lasts_until = max(call.start, self.clock.now()) + self.calls_end
                heapq.heappush(self._ends, (call.lasts_until, next(self._order), call))
            self.calls[call.call_id] = call
            for number in set(call.parties()):
                self._by_number.setdefault(number, {})[call.call_id] = call
                for change in self._pending.pop(number, []):
                    change(call)
        self.controlled.update(controlled)

    def pend(self, number: str, change: Callable[[CallRecord], None]) -> None:
        """Run ``change`` on the next call set up with ``number`` as a party (a pending keep
        that the pending_applied switch applies when its call appears)."""
        self._pending.setdefault(number, []).append(change)

    def _remove(self, call_id: str) -> None:
        self._deferred.pop(call_id, None)  # a replaced call is a new call
        old = self.calls.pop(call_id, None)
        for number in set(old.parties()) if old else ():
            self._by_number[number].pop(call_id, None)

    def with_number(self, number: str) -> list[CallRecord]:
        """Calls where ``number`` is the whole caller or called number."""
        return list(self._by_number.get(number, {}).values())

    def defer(self, call: CallRecord, change: Callable[[], None]) -> None:
        """Run ``change`` once the clock has passed ``call``'s start (see settle)."""
        self._deferred.setdefault(call.call_id, []).append(change)

    def settle(self) -> None:
        """Apply, in the order they were made, the deferred changes of calls that have started.

        Called whenever the state is read (a lookup, a control read of a call's flags).
        """
        now = self.clock.now()
        started = [i for i in self._deferred if not self.calls[i].before_start(now)]
        for call_id in started:
            for change in self._deferred.pop(call_id):
                change()
        self._end_calls(now)

    def _end_calls(self, now: float) -> None:
        """Calls past their ``lasts_until`` end then, if they were ongoing (a late call that
        stays upcoming never began, so never ends)."""
        while self._ends and self._ends[0][0] <= now:
            until, _, call = heapq.heappop(self._ends)
            if self.calls.get(call.call_id) is call and call.state(until) == "ongoing":
                call.end = until

    def is_controlled(self, call: CallRecord) -> bool:
        return any(p in self.controlled for p in call.parties())

    def issue_token(self) -> str:
        token = "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(_TOKEN_LENGTH))
        self.tokens[token] = self.clock.now()
        return token

    def token_age(self, token: str) -> float | None:
        """Seconds since ``token`` was issued, or None for a token never issued."""
        issued = self.tokens.get(token)
        return None if issued is None else self.clock.now() - issued
