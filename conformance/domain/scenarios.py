"""The scenario library: named sets of calls around one number, and fresh numbering for them.

Every case gets numbers and callIDs of its own, so cases never see each other's calls and a
target needs no reset between them. Numbers are fixed-width, so no case's number is a prefix of
another's; the ``prefix`` decoys are the one deliberate exception, to catch prefix matching.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

from conformance.catalog.spec import CallState
from conformance.domain.model import Call, Flags, Scenario

# Where the case's number stands in the call; the decoys hold it as a prefix, a suffix or an
# inner part of a longer number, which a whole-number match must not find (KC-EXT-003).
Party = Literal["caller", "called", "prefix", "suffix", "inner"]
DECOYS: Final[dict[str, Callable[[str], str]]] = {
    "prefix": lambda number: number + "0",
    "suffix": lambda number: "1" + number,
    "inner": lambda number: "1" + number + "0",
}


@dataclass(frozen=True)
class CallShape:
    state: CallState
    offset_seconds: int
    party: Party


def _s(*calls: tuple[CallState, int, Party]) -> tuple[CallShape, ...]:
    return tuple(CallShape(*c) for c in calls)


# The first call that is not a decoy is the one a case names by callID. Distractors come first
# in each list, so that a target that takes "the first call it finds" shows itself.
SCENARIOS: Final[dict[str, tuple[CallShape, ...]]] = {
    "no-call": _s(("ongoing", 30, "prefix"), ("upcoming", 30, "suffix"),
                  ("finished", 300, "inner"), ("ongoing", 40, "suffix")),
    "ongoing-caller": _s(("ongoing", 30, "caller")),
    "ongoing-called": _s(("ongoing", 30, "called")),
    "upcoming-caller": _s(("upcoming", 30, "caller")),
    "upcoming-called": _s(("upcoming", 30, "called")),
    "upcoming-late": _s(("upcoming", 150, "caller")),
    "finished-caller": _s(("finished", 300, "caller")),
    "finished-called": _s(("finished", 300, "called")),
    "two-ongoing": _s(("ongoing", 90, "called"), ("ongoing", 30, "caller")),
    "two-upcoming": _s(("upcoming", 40, "called"), ("upcoming", 10, "caller")),
    "two-finished": _s(("finished", 600, "caller"), ("finished", 60, "called")),
    "ongoing-and-upcoming": _s(("upcoming", 30, "called"), ("ongoing", 30, "caller")),
    "finished-and-ongoing": _s(("ongoing", 30, "called"), ("finished", 300, "caller")),
    "all-states": _s(("ongoing", 20, "prefix"), ("upcoming", 20, "caller"),
                     ("ongoing", 30, "called"), ("finished", 120, "caller"),
                     ("ongoing", 25, "suffix"), ("finished", 60, "inner")),
}
# Calls at the edges of a state or of the one-minute window (matrix part "edges"), a whole
# second and a little more clear of each edge: a target's clock may count whole seconds
# (timeline.CLOCK_RESOLUTION_SECONDS), which would put a call at 1 s past its start.
EDGE_SCENARIOS: Final[dict[str, tuple[CallShape, ...]]] = {
    "finished-just-now": _s(("finished", 0, "caller")),
    "upcoming-now": _s(("upcoming", 2, "called")),
    "upcoming-59s": _s(("upcoming", 59, "caller")),
    "upcoming-62s": _s(("upcoming", 62, "caller")),
}
# Scenarios for single observations, kept out of the matrix product.
EXTRA_SCENARIOS: Final[dict[str, tuple[CallShape, ...]]] = {
    "upcoming-boundary": _s(("upcoming", 60, "caller")),
}
ALL_SCENARIOS: Final = {**SCENARIOS, **EDGE_SCENARIOS, **EXTRA_SCENARIOS}


# Numbers a part of a run may use: a full run takes under 100,000; 8-digit numbers leave room
# for MAX_BLOCKS parts.
BLOCK: Final = 400_000
MAX_BLOCKS: Final = 10_000_000 // BLOCK


class Numbering:
    """Hands out unique numbers and callIDs for one run; a seed makes a run repeatable."""

    def __init__(self, seed: int = 0, block: int = 0) -> None:
        """``block``: the part of a sharded run (0 for a whole run); blocks never share a
        number or a callID, so parts may run against one target at once."""
        self._next = random.Random(seed).randrange(1_000_000, 5_000_000) + block * BLOCK
        self._random = random.Random(f"{seed}/{block}" if block else seed)

    def number(self) -> str:
        """An 8-digit internal number, never a prefix of another one handed out."""
        self._next += 1
        return f"6{self._next % 10_000_000:07d}"

    def external(self) -> str:
        self._next += 1
        return f"+3670{self._next:07d}"

    def call_id(self) -> str:
        return str(uuid.UUID(int=self._random.getrandbits(128), version=4))


NO_FLAGS: Final = Flags()


def build(name: str, numbering: Numbering, flags: Flags = NO_FLAGS,
          controlled: bool = True) -> Scenario:
    """A fresh instance of scenario ``name``: new number, new callIDs, the given flags."""
    number = numbering.number()
    shapes = ALL_SCENARIOS[name]
    calls = tuple(_call(shape, number, numbering, flags) for shape in shapes)
    named = next((c.call_id for c, s in zip(calls, shapes, strict=True)
                  if s.party not in DECOYS), None)
    return Scenario(name, calls, number, named or numbering.call_id(),
                    (number,) if controlled else ())


def _call(shape: CallShape, number: str, numbering: Numbering, flags: Flags) -> Call:
    other = numbering.external()
    party = DECOYS[shape.party](number) if shape.party in DECOYS else number
    caller, called = (other, party) if shape.party == "called" else (party, other)
    return Call(numbering.call_id(), caller, called, shape.state, shape.offset_seconds, flags)
