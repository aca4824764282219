"""The limits every request is held to, and httpx's timeouts made from them.

httpx's timeouts apply per read, so they alone never stop a target that sends one byte a second:
``total_timeout`` is the deadline around every attempt of a request, ``max_response_bytes`` the
cap a body is read into, ``retries`` how often a failure worth retrying is tried again. One
frozen value per run, read by the client, its attempts and the naming of their failures.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class TransportSettings:
    """Limits for every request; defaults suit a target on a LAN."""

    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    total_timeout: float = 30.0
    max_response_bytes: int = 1_048_576
    verify: bool | str = True
    retries: int = 1
    rate: float | None = None
    max_retry_after: float = 30.0
    concurrency: int = 1  # requests in flight at most (send_many); the pool holds as many


def http_timeout(settings: TransportSettings, hold: float = 0.0) -> httpx.Timeout:
    """httpx's per-phase timeouts; ``hold`` lengthens the read of a request the target may
    hold before it answers."""
    return httpx.Timeout(connect=settings.connect_timeout, read=settings.read_timeout + hold,
                         write=settings.read_timeout, pool=settings.connect_timeout)
