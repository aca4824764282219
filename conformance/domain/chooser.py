"""Every combination of readings a request reaches, one path at a time.

The evaluator asks ``Chooser.choose`` at each open point it meets; ``next_path`` then says
which combination to replay next (odometer order), so only the points a request reaches
multiply the paths.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from conformance.domain.model import Choice, Reading
from conformance.domain.open_points import OpenPoint


class Choose(Protocol):
    def __call__(self, point: OpenPoint, more: Sequence[str] = ()) -> str: ...


class Chooser:
    """Replays one path of readings; records the points met so ``expect`` can try the others."""

    def __init__(self, path: list[int]) -> None:
        self._path = path
        self._arity: list[int] = []
        self._taken: dict[OpenPoint, str] = {}

    def choose(self, point: OpenPoint, more: Sequence[str] = ()) -> str:
        """This path's reading of ``point`` (``more``: options beyond its readings, a tie's
        callIDs); the same point met twice on a path is read the same way."""
        if point in self._taken:
            return self._taken[point]
        options = (*point.options, *more)
        depth = len(self._arity)
        if depth == len(self._path):
            self._path.append(0)
        self._arity.append(len(options))
        self._taken[point] = options[self._path[depth]]
        return self._taken[point]

    def reading(self) -> Reading:
        """The readings taken, as catalog readings (a tie's chosen callID is not one)."""
        return frozenset(Choice(point.requirement, option, point.aspect)
                         for point, option in self._taken.items() if option in point.options)

    def next_path(self) -> list[int] | None:
        """The next combination to try (odometer order), or None when all were tried."""
        path = self._path[: len(self._arity)]
        while path and path[-1] + 1 >= self._arity[len(path) - 1]:
            path.pop()
        if not path:
            return None
        path[-1] += 1
        return path

