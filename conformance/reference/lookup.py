"""The pieces of a lookup by extension: candidates, state predicates and pickers.

Each is a small function so that a fault replaces exactly one of them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

from conformance.reference.state import CallRecord, Store

Candidates = Callable[[Store, str], list[CallRecord]]
InLookup = Callable[[CallRecord, float], bool]
Picker = Callable[[list[CallRecord]], CallRecord | None]


def either_party(store: Store, number: str) -> list[CallRecord]:
    """The page: the number is either the calling party or the called party (whole number)."""
    return store.with_number(number)


def normal_number(value: str) -> str:
    """A number as a lenient server would compare it: NFKC, no spaces, no + or 00 in front."""
    value = unicodedata.normalize("NFKC", value).strip().replace(" ", "")
    return value.removeprefix("+").removeprefix("00")


def normal_call_id(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip().strip("{}").strip().casefold()


def either_party_normalized(store: Store, number: str) -> list[CallRecord]:
    """Either party, compared after normalizing both sides (the normalize_identifiers switch)."""
    exact = store.with_number(number)
    if exact:
        return exact
    wanted = normal_number(number)
    return [c for c in store.calls.values() if any(normal_number(p) == wanted
                                                    for p in c.parties())]


def caller_only(store: Store, number: str) -> list[CallRecord]:
    return [c for c in store.with_number(number) if c.caller == number]


def called_only(store: Store, number: str) -> list[CallRecord]:
    return [c for c in store.with_number(number) if c.called == number]


def prefix_of_party(store: Store, number: str) -> list[CallRecord]:
    return [c for c in store.calls.values()
            if c.caller.startswith(number) or c.called.startswith(number)]


def is_ongoing(call: CallRecord, now: float) -> bool:
    return call.state(now) == "ongoing"


def is_finished(call: CallRecord, now: float) -> bool:
    return call.state(now) == "finished"


def any_state(call: CallRecord, now: float) -> bool:
    return True


def never(call: CallRecord, now: float) -> bool:
    return False


def starts_within(window: int, inclusive: bool) -> InLookup:
    """Upcoming and starting in 0..window seconds (the boundary itself per ``inclusive``)."""
    def inside(call: CallRecord, now: float) -> bool:
        if call.state(now) != "upcoming":
            return False
        seconds = call.seconds_until_start(now)
        return 0 <= seconds < window or (inclusive and seconds == window)
    return inside


def only_one(calls: list[CallRecord]) -> CallRecord | None:
    """More than one record is an error (None)."""
    return calls[0] if len(calls) == 1 else None


def first(calls: list[CallRecord]) -> CallRecord | None:
    return calls[0]


def most_recently_finished(calls: list[CallRecord]) -> CallRecord | None:
    return max(calls, key=lambda c: c.end or 0.0)


def least_recently_finished(calls: list[CallRecord]) -> CallRecord | None:
    return min(calls, key=lambda c: c.end or 0.0)


def soonest_starting(calls: list[CallRecord]) -> CallRecord | None:
    return min(calls, key=lambda c: c.start)
