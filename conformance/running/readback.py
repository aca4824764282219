"""What a case reads back: its own calls' flags, and a sample of earlier cases' settled calls.

Read in one request where the target serves ``POST {control}/flags``; a batch of cases
(batch.py) reads all of theirs in one.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field

from conformance.domain.model import Check, Flags
from conformance.judging.outcomes import flag_changes
from conformance.wire.control import ControlError
from conformance.wire.target import Target

# Earlier cases' calls read back with each case: the most recently settled ones and a few
# older ones in turn; how many settled calls are remembered.
RECENT_READ_BACK, OLDER_READ_BACK, SETTLED_LIMIT = 2, 1, 512


@dataclass
class ReadBack:
    """Calls of earlier cases whose final flags are known. A sample is read back with every
    case, so a change that lands on another case's call (a "last looked-up call" cache) or an
    error's change applied later shows as drift (KC-FLAG-002): no request named them since."""

    known: dict[str, Flags] = field(default_factory=dict)  # oldest first
    turn: int = 0

    def sample(self, exclude: dict[str, Flags]) -> dict[str, Flags]:
        ids = [i for i in self.known if i not in exclude]
        older = ids[:-RECENT_READ_BACK]
        picked = {*ids[-RECENT_READ_BACK:], *(older[(self.turn + i) % len(older)]
                                              for i in range(min(OLDER_READ_BACK, len(older))))}
        self.turn += OLDER_READ_BACK
        return {i: self.known[i] for i in picked}

    def settle(self, flags: dict[str, Flags]) -> None:
        for call_id, value in flags.items():
            self.known.pop(call_id, None)
            self.known[call_id] = value
        while len(self.known) > SETTLED_LIMIT:
            del self.known[next(iter(self.known))]

    def drift(self, sample: Mapping[str, Flags],
              read: Mapping[str, Flags | ControlError]) -> list[Check]:
        """A failure per earlier call whose flags moved; each is reported once. A call still
        sampled that was reported or forgotten since (a batch samples before it judges) is
        left out; one the target no longer has is forgotten, not failed (it may drop calls)."""
        sample = {i: f for i, f in sample.items() if i in self.known}
        for call_id in [i for i in sample if isinstance(read.get(i), ControlError)]:
            self.known.pop(call_id, None)
            del sample[call_id]
        found = {i: f for i in sample if isinstance(f := read.get(i), Flags)}
        moved = sorted(flag_changes(sample, found))
        for call_id in {c for c, _, _ in moved}:
            self.known.pop(call_id, None)
        return [Check("KC-FLAG-002", "fail",
                      f"{flag} of call {call_id} (an earlier case's, settled) is now {value}, "
                      "though no request since named it: a change landed on a call the "
                      "request did not identify, or an error's change was applied later")
                for call_id, flag, value in moved]


_READ_BACKS: weakref.WeakKeyDictionary[Target, ReadBack] = weakref.WeakKeyDictionary()


def read_back(target: Target) -> ReadBack:
    """The target's settled calls of this run (one per target object)."""
    return _READ_BACKS.setdefault(target, ReadBack())


@dataclass(frozen=True)
class Reads:
    """What a batch read back for a case: every call's flags it read (or the error it met),
    and the case's sample of earlier cases' calls."""

    flags: Mapping[str, Flags | ControlError]
    sample: dict[str, Flags]


def own(before: dict[str, Flags],
        read: Mapping[str, Flags | ControlError]) -> dict[str, Flags]:
    """The case's own calls as read; the first one that could not be read raises."""
    found = {call_id: read[call_id] for call_id in before}
    for value in found.values():
        if isinstance(value, ControlError):
            raise value
    return found  # type: ignore[return-value]  # no error among them
