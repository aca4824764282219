"""When the next request may go: the rate limit across requests, and the target's Retry-After.

One ``Pacer`` per client. A Retry-After on 429 or 503 is owed in full before the next request
(capped, so a hostile value cannot stall the run), and with a rate every request keeps its
slot even after a wait. The clocks and the sleep are injectable, so the waits are tested
without waiting.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from typing import Final

THROTTLE_STATUSES: Final = frozenset({429, 503})


class Pacer:
    """Spaces requests; ``clock`` is monotonic, ``wall`` dates HTTP-date Retry-After values."""

    def __init__(self, rate: float | None, max_retry_after: float, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 wall: Callable[[], float] = time.time) -> None:
        self.rate = rate
        self.max_retry_after = max_retry_after
        self._clock, self._sleep, self._wall = clock, sleep, wall
        self._pause = 0.0  # a Retry-After still owed, served in full before the next request
        self._next_slot = 0.0

    def wait_turn(self) -> float:
        """Sleep until the rate limit and any Retry-After allow the next request; the wait."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait

    def reserve(self) -> float:
        """Take the next slot without sleeping; the wait its request owes before it is sent
        (requests in flight together each take their own slot, so the rate holds overall)."""
        now = self._clock()
        start = max(now + self._pause, self._next_slot)
        self._pause = 0.0
        if self.rate:
            self._next_slot = start + 1.0 / self.rate
        return max(0.0, start - now)

    def retry_after(self, status: int | None, value: str | None) -> float | None:
        """Owe the target the wait it asked for with a throttling status; that wait, or None
        when the answer asked for none (or for one that cannot be read)."""
        if status not in THROTTLE_STATUSES:
            return None
        delay = parse_retry_after(value, self._wall())
        if delay is None:
            return None
        delay = min(delay, self.max_retry_after)
        self._pause = max(self._pause, delay)
        return delay


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds from ``now`` (wall clock): delta-seconds or an HTTP date; None
    when unusable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
