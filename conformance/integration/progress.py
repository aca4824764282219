"""How far a run is, for the person or the CI log watching it.

On a terminal one line is rewritten in place (cases done, failures, rate, time left); in a log
(no TTY) a line is written at most every ``LOG_EVERY`` seconds, so a 20,000-case run does not
flood CI. ``-q`` silences both; the summary at the end is printed either way. Under
``--workers`` each part posts its counts on a ``Board`` shared with the parent (memory the
forked parts inherit), and the parent shows one line for the whole run.
"""

from __future__ import annotations

import multiprocessing
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, TextIO

TTY_EVERY: Final = 0.2
LOG_EVERY: Final = 10.0
# The rate (and the time left it gives) is shown once this many seconds of cases were timed:
# over the first case alone it is a division by almost nothing (1000000000 cases/s).
RATE_AFTER: Final = 1.0


@dataclass
class Progress:
    """Cases collected, done and failed; ``show`` is False for a quiet run or plain pytest."""

    show: bool = False
    total: int = 0
    done: int = 0
    failed: int = 0
    stream: TextIO = field(default_factory=lambda: sys.stdout)
    clock: Callable[[], float] = time.monotonic
    started: float | None = None
    last: float = 0.0
    post: Callable[[int, int, int], None] | None = None  # a part's slot on the parent's board
    _width: int = 0

    @property
    def tty(self) -> bool:
        return bool(getattr(self.stream, "isatty", lambda: False)())

    def step(self, failed: bool) -> None:
        """One case reported; show the line when it is time to."""
        now = self.clock()
        if self.started is None:
            self.started = now
        self.done += 1
        self.failed += failed
        self.posted()
        self.tick(now)

    def posted(self) -> None:
        """Tell the parent of a --workers run this part's counts (no parent: nothing)."""
        if self.post is not None:
            self.post(self.total, self.done, self.failed)

    def tick(self, now: float) -> None:
        """Show the line if it is time to."""
        if self.show and now - self.last >= (TTY_EVERY if self.tty else LOG_EVERY):
            self.last = now
            self._write(self.line(now))

    def line(self, now: float) -> str:
        counts = f"  {self.done}/{self.total} cases, {self.failed} failed"
        elapsed = now - (self.started if self.started is not None else now)
        if elapsed < RATE_AFTER:
            return counts
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate and self.total > self.done else 0.0
        return f"{counts}, {rate:.0f} cases/s, {_clock(left)} left"

    def finish(self) -> None:
        """End the terminal's rewritten line, so the summary starts on its own."""
        if self.show and self.tty and self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0

    def _write(self, line: str) -> None:
        if self.tty:
            self.stream.write("\r" + line.ljust(self._width))
            self._width = len(line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


class Board:
    """The counts (total, done, failed) of each part of a --workers run, in shared memory:
    each part writes its own slot, the parent sums them."""

    FIELDS: Final = 3

    def __init__(self, parts: int) -> None:
        self._counts: Any = multiprocessing.get_context("fork").RawArray(
            "q", parts * self.FIELDS)
        self.parts = parts

    def slot(self, part: int) -> Callable[[int, int, int], None]:
        """The post function of part ``part`` (0-based), for its ``Progress``."""
        def post(total: int, done: int, failed: int) -> None:
            at = part * self.FIELDS
            self._counts[at:at + self.FIELDS] = [total, done, failed]
        return post

    def sums(self) -> tuple[int, int, int]:
        """Total, done and failed over every part so far."""
        counts = list(self._counts)
        return (sum(counts[0::self.FIELDS]), sum(counts[1::self.FIELDS]),
                sum(counts[2::self.FIELDS]))

    def show(self, progress: Progress) -> None:
        """The run's one line from the parts' counts (``progress`` is the parent's)."""
        progress.total, progress.done, progress.failed = self.sums()
        now = progress.clock()
        if progress.started is None:
            progress.started = now
        if progress.total:  # nothing to say before a part has collected its cases
            progress.tick(now)


_part_post: list[Callable[[int, int, int], None]] = []  # a --workers part's slot, if any


def post_as_part(post: Callable[[int, int, int], None]) -> None:
    """In a part forked by --workers, before its run: its counts go to ``post``."""
    _part_post[:] = [post]


def part_post() -> Callable[[int, int, int], None] | None:
    """The slot this process posts its counts to (a --workers part), or None."""
    return _part_post[0] if _part_post else None


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds + 0.5), 60)
    return f"{minutes}:{secs:02d}" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"
