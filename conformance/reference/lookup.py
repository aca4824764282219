"""The pieces of a lookup by extension: candidates, state predicates and pickers.

Each is a small function so that a fault replaces exactly one of them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from conformance.reference.state import CallRecord, Store

Candidates = Callable[[Store, str], list[CallRecord]]
InLookup = Callable[[CallRecord, float], bool]
Picker = Callable[[list[CallRecord]], CallRecord | None]


def either_party(store: Store, number: str) -> list[CallRecord]:
    """The page: the number is either the calling party or the called party (whole number)."""
    return store.with_number(number)


# Written apart from the oracle's on purpose (the suite cross-checks the two); both are
# pinned to one table by tests/test_normalisation.py.
_NUMBER_PREFIX = re.compile(r"\+?(?:00)?")
_CALL_ID = re.compile(r"\s*[{}]*\s*(.*?)\s*[{}]*\s*", re.S)


def normal_number(value: str) -> str:
    """A number as a lenient server would compare it: NFKC, no spaces, no + or 00 in front."""
    compact = "".join(unicodedata.normalize("NFKC", value).strip().split(" "))
    return _NUMBER_PREFIX.sub("", compact, count=1)


def normal_call_id(value: str) -> str:
    """A callID as a lenient server would compare it: NFKC, no braces or spaces around it,
    any case."""
    inner = _CALL_ID.fullmatch(unicodedata.normalize("NFKC", value))
    return (inner[1] if inner else value).casefold()


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


def _parties_where(matches: Callable[[str, str], bool]) -> Candidates:
    """Calls with a party that ``matches(party, number)`` (faults: partial number matches)."""
    def candidates(store: Store, number: str) -> list[CallRecord]:
        return [c for c in store.calls.values() if any(matches(p, number) for p in c.parties())]
    return candidates


prefix_of_party = _parties_where(str.startswith)
suffix_of_party = _parties_where(str.endswith)
inside_party = _parties_where(str.__contains__)


def is_ongoing(call: CallRecord, now: float) -> bool:
    return call.state(now) == "ongoing"


def is_finished(call: CallRecord, now: float) -> bool:
    return call.state(now) == "finished"


def finished_at_least(seconds: float) -> InLookup:
    """Finished, and ended at least ``seconds`` ago (a fault: a just-ended call is missed)."""
    def finished(call: CallRecord, now: float) -> bool:
        return is_finished(call, now) and now - (call.end or now) >= seconds
    return finished


def any_state(call: CallRecord, now: float) -> bool:
    return True


def never(call: CallRecord, now: float) -> bool:
    return False


def starts_within(window: int, inclusive: bool, earliest: int = 0) -> InLookup:
    """Upcoming and starting in earliest..window seconds (the window's end per ``inclusive``).

    A late call that stays upcoming (its start passed) counts as starting now.
    """
    def inside(call: CallRecord, now: float) -> bool:
        if call.state(now) != "upcoming":
            return False
        seconds = max(0, call.seconds_until_start(now))
        return earliest <= seconds < window or (inclusive and seconds == window)
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
