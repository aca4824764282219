"""One request inside the client's loop: every attempt under one deadline, each body in the cap.

httpx's timeouts apply per read, so a server sending one byte per second never trips them: the
total deadline is held here, in the loop, around every attempt of a request, so that when it
returns the request is over (its connection closed if it was cut short) and nothing is still
writing what the exchange records. Bodies are streamed raw into the byte cap (``inflate``): a
50 MB, endless or bomb body costs the cap. httpcore's trace says whether the target was reached
and whether an attempt had a connection of its own, which tells a request the target dropped
from the keep-alive race HTTP lets a client retry.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

import httpx

from conformance.wire.exchange import DROPPED
from conformance.wire.failures import TARGET_ERRORS, Failure, classify
from conformance.wire.inflate import CappedBody, content_codings
from conformance.wire.limits import TransportSettings

HOLD: Final = "keepcall_hold"  # a request's extension: seconds the target may hold it

# httpcore's trace events that say a connection to the target stands.
_CONNECTED_EVENTS: Final = frozenset({
    "connection.connect_tcp.complete", "connection.start_tls.complete",
    "http11.send_request_headers.started", "http2.send_request_headers.started"})
_NEW_CONNECTION: Final = "connection.connect_tcp.complete"
SENT_ON_A_CONNECTION: Final = "http11.send_request_headers.started"


@dataclass
class Progress:
    """What one run of a request got; owned by the loop's coroutine until it returns it."""

    status: int | None = None
    reason: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: CappedBody | None = None
    error: str | None = None
    retries: int = 0
    notes: list[str] = field(default_factory=list)
    connected: bool = False  # a connection to the target was made, for any attempt
    fresh: bool = False  # the current attempt made its own connection
    dropped: list[str] = field(default_factory=list)  # drops retried (see ``drop``)
    dropped_last: bool = False  # the last attempt was dropped too

    def following(self, earlier: Progress, note: str) -> Progress:
        """This run as the resend of ``earlier``: its retries and notes come first."""
        self.retries += earlier.retries
        self.notes = [*earlier.notes, note, *self.notes]
        self.dropped = [*earlier.dropped, *self.dropped]
        self.connected = self.connected or earlier.connected
        return self

    async def trace(self, event: str, info: Mapping[str, object]) -> None:
        """httpcore's trace hook: a connection made (or reused) means the target was reached;
        a TLS handshake must finish first where one is made."""
        if event in _CONNECTED_EVENTS:
            self.connected = True
        self.fresh = self.fresh or event == _NEW_CONNECTION

    def drop(self, failure: Failure) -> bool:
        """Whether a failed attempt was dropped by the target: reset or closed without an
        answer on a connection made for it. The same on a reused keep-alive connection is the
        race HTTP lets a client retry (the server closed it as idle) and is not counted."""
        return failure.kind in DROPPED and self.fresh

    @property
    def dropped_now(self) -> bool:
        """The target dropped this request: an attempt retried, or the last one."""
        return bool(self.dropped) or self.dropped_last


async def within_deadline(http: httpx.AsyncClient, request: httpx.Request,
                          settings: TransportSettings) -> Progress:
    """All attempts under the total deadline. It is held here, in the loop, so that the
    cancelled attempt has closed its connection before this returns."""
    progress = Progress()
    request.extensions["trace"] = progress.trace
    total = settings.total_timeout + request.extensions.get(HOLD, 0.0)
    try:
        async with asyncio.timeout(total):
            await _attempts(http, request, progress, settings)
    except TimeoutError:
        progress.error = f"timeout: total deadline of {total:g} s exceeded"
    return progress


async def _attempts(http: httpx.AsyncClient, request: httpx.Request, progress: Progress,
                    settings: TransportSettings) -> None:
    """The first attempt and the retries ``settings`` allow a failure worth retrying; the
    drops among them counted as the target's."""
    for attempt in range(settings.retries + 1):
        progress.fresh = False
        failure = await _attempt(http, request, progress, settings)
        if failure is None:
            return
        progress.error = f"{failure.kind}: {failure.message}"
        if not failure.retryable or attempt == settings.retries:
            progress.dropped_last = progress.drop(failure)
            return
        progress.retries += 1
        progress.notes.append(f"retried after {progress.error}")
        if progress.drop(failure):
            progress.dropped.append(progress.error)
        progress.error = None


async def _attempt(http: httpx.AsyncClient, request: httpx.Request, progress: Progress,
                   settings: TransportSettings) -> Failure | None:
    try:
        response = await http.send(request, stream=True)
    except TARGET_ERRORS as exc:  # what the server causes becomes an error string
        return classify(exc, settings, before_response=True)
    try:
        progress.status = response.status_code
        progress.reason = response.reason_phrase
        progress.headers = _header_dict(response.headers)
        await _read_body(response, progress, settings.max_response_bytes)
    except TARGET_ERRORS as exc:
        return classify(exc, settings, before_response=False)
    finally:
        await _close_quietly(response)
    return None


async def _read_body(response: httpx.Response, progress: Progress, cap: int) -> None:
    """Stream the raw body into the cap, so a 50 MB, endless or bomb body costs the cap."""
    codings = content_codings(response.headers.get_list("content-encoding"))
    progress.body = CappedBody(codings, cap)
    async for chunk in response.aiter_raw():
        if progress.body.add(chunk):
            return


def _header_dict(headers: httpx.Headers) -> dict[str, str]:
    """Lower-case names; repeated headers joined with ", " as HTTP allows."""
    out: dict[str, str] = {}
    for name, value in headers.multi_items():
        key = name.lower()
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


async def _close_quietly(response: httpx.Response) -> None:
    with contextlib.suppress(Exception):  # the connection is dropped either way
        await response.aclose()
