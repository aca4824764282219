"""The readings' covering array: few server configurations that hold every pair of readings.

tests/test_readings.py runs the suite once per row of ``tests/readings-pairs.json``, each row a
value for every switch of the reference server, such that any two values of any two switches
meet in some row. The rows are data, checked in: the lower bound is the product of the two
largest domains (16 here); allpairspy's greedy rows are 26 or more. tests/test_readings.py checks
that the file covers every pair of the switches as they are now.

``python tests/covering.py`` rebuilds the file after a switch or a value was added: a search
(simulated annealing, seeded, so the same domains give the same rows) from the lower bound up.
A slow value (``SLOW``) is pinned to as few rows as its pairs allow: for the 42 switches of
round 3, 17 rows were found with a held next in 9 of them (about 80 s each, against 6 s for
another row), 19 rows with it in 4.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from conformance.reference.switches import switch_choices

PAIRS_FILE = Path(__file__).with_name("readings-pairs.json")
# error_status is free-form (200 or any 4xx); these stand for its classes.
ERROR_STATUSES = ("200", "400", "404")
# A held next: the readings' runs must survive a hold, not one of a particular length (the
# finer points, a hold until the call starts, are tests/test_runner_time.py's, at 3 s). A
# quarter second is still many times a loopback answer's time; at 1 s a row's run took 50-60 s.
NEXT_HELD = "0.25"
# The values that stand for each free-form (number) switch.
FREE_FORM = {"error_status": ERROR_STATUSES, "token_grace": ("0", "300"),
             "url_limit": ("0", "4000"), "calls_end": ("0", "90"),
             "next_hold": ("0", NEXT_HELD)}
Domains = Mapping[str, Sequence[str]]
Row = dict[str, str]
ABOUT = "every pair of readings in few rows: python tests/covering.py rebuilds it"
# Values that cost wall time in a run (a held next: each status=next request finding no call or
# an upcoming one waits it out, some 70 of them a run): pinned to as few rows as their pairs
# allow, the others take the switch's other value.
SLOW = {"next_hold": NEXT_HELD}
SEEDS = (1, 2, 3, 4)
STEPS = 300_000  # moves per size and seed tried (about 20 s); the whole search takes minutes


def values() -> dict[str, tuple[str, ...]]:
    """Every switch of the reference server and the values that stand for its readings."""
    return {name: choices or FREE_FORM[name] for name, choices in switch_choices().items()}


def uncovered(domains: Domains, rows: Sequence[Mapping[str, str]]
              ) -> list[tuple[str, str, str, str]]:
    """Every (switch, value, switch, value) pair that no row holds."""
    missing = []
    for first, second in itertools.combinations(domains, 2):
        seen = {(row[first], row[second]) for row in rows}
        missing += [(first, a, second, b) for a in domains[first] for b in domains[second]
                    if (a, b) not in seen]
    return missing


def lower_bound(domains: Domains) -> int:
    sizes = sorted((len(values) for values in domains.values()), reverse=True)
    return math.prod(sizes[:2])


class _Holes:
    """The pairs no row holds, as a set with a random pick in constant time."""

    def __init__(self) -> None:
        self.items: list[tuple[int, int, int, int]] = []
        self.where: dict[tuple[int, int, int, int], int] = {}

    def add(self, pair: tuple[int, int, int, int]) -> None:
        self.where[pair] = len(self.items)
        self.items.append(pair)

    def remove(self, pair: tuple[int, int, int, int]) -> None:
        at, last = self.where.pop(pair), self.items.pop()
        if last != pair:
            self.items[at], self.where[last] = last, at


class _Search:
    """An array of value indexes, how often each pair of values occurs, and the pairs missing."""

    def __init__(self, sizes: Sequence[int], count: int, rng: random.Random,
                 pinned: Mapping[int, Sequence[int]]) -> None:
        self.sizes, self.rng, self.pinned = sizes, rng, pinned
        self.cells = [[rng.randrange(size) for size in sizes] for _ in range(count)]
        for column, values in pinned.items():
            for row, value in zip(self.cells, values, strict=True):
                row[column] = value
        self.seen: dict[tuple[int, int, int, int], int] = {}
        self.holes = _Holes()
        for i, j in itertools.combinations(range(len(sizes)), 2):
            for a, b in itertools.product(range(sizes[i]), range(sizes[j])):
                self.seen[i, a, j, b] = 0
                self.holes.add((i, a, j, b))
        for row in self.cells:
            for column, value in enumerate(row):
                self._count(row, column, value, +1, after=column)

    def _count(self, row: list[int], column: int, value: int, step: int, after: int = -1
               ) -> None:
        """Add ``step`` to the pairs the cell holds with the row's other cells (those after
        ``after`` only, when the row is counted the first time)."""
        for other, held in enumerate(row):
            if other == column or other <= after:
                continue
            pair = (column, value, other, held) if column < other else (other, held, column,
                                                                         value)
            seen = self.seen[pair] = self.seen[pair] + step
            if step > 0 and seen == 1:
                self.holes.remove(pair)
            elif step < 0 and seen == 0:
                self.holes.add(pair)

    def _set(self, row: list[int], column: int, value: int) -> None:
        self._count(row, column, row[column], -1)
        row[column] = value
        self._count(row, column, value, +1)

    def move(self, temperature: float) -> None:
        """Put a missing pair into a random row; keep it unless that is too much worse."""
        i, a, j, b = self.rng.choice(self.holes.items)
        row = self.rng.choice(self.cells)
        if (i in self.pinned and row[i] != a) or (j in self.pinned and row[j] != b):
            return
        before, missing = (row[i], row[j]), len(self.holes.items)
        self._set(row, i, a)
        self._set(row, j, b)
        worse = len(self.holes.items) - missing
        if worse > 0 and self.rng.random() >= math.exp(-worse / temperature):
            self._set(row, j, before[1])
            self._set(row, i, before[0])


def search(domains: Domains, count: int, seed: int, steps: int = STEPS) -> list[Row] | None:
    """``count`` rows covering every pair, or None if the search found none."""
    names = list(domains)
    slow = _slow_rows(domains)
    pinned = {names.index(name): [domains[name].index(value) if row < slow else
                                  1 - domains[name].index(value) for row in range(count)]
              for name, value in SLOW.items() if name in domains}
    state = _Search([len(domains[n]) for n in names], count, random.Random(seed), pinned)
    for step in range(steps):
        if not state.holes.items:
            return [{n: domains[n][v] for n, v in zip(names, row, strict=True)}
                    for row in state.cells]
        state.move(max(0.1, 1.5 * (1 - step / steps)))
    return None


def _slow_rows(domains: Domains) -> int:
    """Rows that take a slow value: as few as its pairs allow (the largest other domain)."""
    return max(len(values) for name, values in domains.items() if name not in SLOW)


def smallest(domains: Domains) -> list[Row]:
    """The fewest rows the search finds: sizes from the lower bound up, a few seeds each."""
    for count in itertools.count(lower_bound(domains)):
        for seed in SEEDS:
            rows = search(domains, count, seed)
            if rows is not None:
                return rows
    raise AssertionError("unreachable")


def load(path: Path = PAIRS_FILE) -> list[Row]:
    """The checked-in rows, each as switch -> value."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return [dict(zip(data["switches"], row, strict=True)) for row in data["rows"]]


def dump(domains: Domains, rows: Sequence[Row]) -> str:
    """The file: the switches once, then one line per row (its values in that order)."""
    names = list(domains)
    lines = [json.dumps([row[name] for name in names]) for row in rows]
    return (f'{{"about": {json.dumps(ABOUT)},\n "lower_bound": {lower_bound(domains)},\n'
            f' "switches": {json.dumps(names)},\n "rows": [\n  '
            + ",\n  ".join(lines) + "\n ]}\n")


def main() -> int:
    domains = values()
    rows = smallest(domains)
    PAIRS_FILE.write_text(dump(domains, rows), encoding="utf-8")
    print(f"{len(rows)} rows (lower bound {lower_bound(domains)}) written to {PAIRS_FILE}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
