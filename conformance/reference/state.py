"""What the reference server holds: its clock, the calls with their flags, and issued tokens.

Calls keep absolute times on the server's clock, so their state is derived at lookup time and
moves with /clock (an upcoming call whose start has passed is ongoing).
"""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import Iterable
from dataclasses import dataclass

from conformance.spec import FLAGS, CallState, Flag

_TOKEN_ALPHABET = string.ascii_letters + string.digits
_TOKEN_LENGTH = 32


class Clock:
    """Monotonic real time plus an offset that only moves forward."""

    def __init__(self) -> None:
        self._offset = 0.0

    def now(self) -> float:
        return time.monotonic() + self._offset

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

    def state(self, now: float) -> CallState:
        # Whole seconds, rounded, so that the milliseconds between provisioning and the
        # request do not move a call across the boundary its offset put it on.
        # A call provisioned as upcoming stays upcoming through its start second (offset 0).
        if self.end is not None:
            return "finished"
        if self.upcoming and self.seconds_until_start(now) >= 0:
            return "upcoming"
        return "ongoing"

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

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self.calls: dict[str, CallRecord] = {}
        self.controlled: set[str] = set()
        self.tokens: dict[str, float] = {}
        self._by_number: dict[str, dict[str, CallRecord]] = {}

    def replace_all(self, calls: Iterable[CallRecord], controlled: Iterable[str]) -> None:
        self.calls.clear()
        self._by_number.clear()
        self.controlled = set()
        self.add(calls, controlled)

    def add(self, calls: Iterable[CallRecord], controlled: Iterable[str]) -> None:
        for call in calls:
            self._remove(call.call_id)
            self.calls[call.call_id] = call
            for number in set(call.parties()):
                self._by_number.setdefault(number, {})[call.call_id] = call
        self.controlled.update(controlled)

    def _remove(self, call_id: str) -> None:
        old = self.calls.pop(call_id, None)
        for number in set(old.parties()) if old else ():
            self._by_number[number].pop(call_id, None)

    def with_number(self, number: str) -> list[CallRecord]:
        """Calls where ``number`` is the whole caller or called number."""
        return list(self._by_number.get(number, {}).values())

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
