"""The HTTP transport: one long-lived client per run that never crashes or hangs on a target.

Whatever a target does (trickles bytes, sends 50 MB or a decompression bomb, resets,
redirects, answers garbage) becomes an ``Exchange`` with an ``error`` string; only programming
errors raise. An ``httpx.AsyncClient`` runs on a private event loop, driven by the thread that
sends (one request at a time, under a lock; no thread of its own, so no hand-over per request).
httpx's timeouts apply per read, so a server sending one byte per second never trips them: the
total deadline is held inside the loop, around every attempt of a request. So when ``send``
returns, the request is over (its connection closed if it was cut short) and nothing is still
writing what the exchange records.

Nothing is followed (no redirects), nothing is remembered (no cookies, no proxies from the
environment), bodies are read raw and decoded within the cap (``inflate``), requests are
paced (``pacing``), and everything recorded is redacted, with a curl line (``curl``). The
client's counters are the run's one record of transport failures; the circuit breaker and
the summary read them here.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import http.cookiejar
import json
import ssl
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlencode

import httpcore
import httpx

from conformance import __version__
from conformance.wire.attempts import HOLD, Progress, within_deadline
from conformance.wire.curl import RequestParts, join_query, render
from conformance.wire.exchange import (
    DROP_PATTERN,
    DROP_WINDOW,
    UNREACHED,
    Exchange,
    decode_json,
)
from conformance.wire.failures import failure_message
from conformance.wire.limits import TransportSettings, http_timeout
from conformance.wire.pacing import Pacer
from conformance.wire.redact import Redactor
from conformance.wire.seam import in_process
from conformance.wire.sockets import keep_sockets

# The transport's face for the layers above the wire, wherever each name is defined.
__all__ = ["DROP_PATTERN", "DROP_WINDOW", "JSON_TYPE", "Client", "Exchange", "Outbound",
           "TransportSettings", "in_process"]

USER_AGENT: Final = f"keepcall-conformance/{__version__}"
FORM_TYPE: Final = "application/x-www-form-urlencoded"
JSON_TYPE: Final = "application/json"
RESEND_STATUS: Final = 429
_EAGER: Final = httpcore
"""httpx imports httpcore on the first request and keeps its exception classes; an embedding
host that drops the modules a step imported (pytester's inline runs do) would otherwise leave
httpx mapping old classes while new ones are raised: a reset would read as "unexpected"."""
# Past the deadline, the time the loop may take to close what it cancelled. Only a connection
# that cannot even be closed outlives it; ``send`` then returns without waiting any longer.
CLOSE_SECONDS: Final = 5.0
# identity: a conformant server then never compresses, so the byte cap applies to real bytes.
DEFAULT_HEADERS: Final = {"User-Agent": USER_AGENT, "Accept": "*/*", "Accept-Encoding": "identity"}


@dataclass(frozen=True)
class Outbound:
    """A request for ``Client.send_many``: the arguments ``Client.send`` takes."""

    method: str
    url: str
    params: Sequence[tuple[str, str]] = ()
    in_body: bool = False
    headers: Mapping[str, str] | None = None
    raw_query: bytes | None = None
    raw_body: bytes | None = None
    hold: float = 0.0

    def parts(self) -> RequestParts:
        return RequestParts(self.method, self.url,
                            query=() if self.in_body else tuple(self.params),
                            form=tuple(self.params) if self.in_body else (),
                            headers=dict(self.headers or {}), raw_query=self.raw_query,
                            raw_body=self.raw_body)


@dataclass
class _Outgoing:
    """A prepared request: the httpx request plus what the exchange and curl line show."""

    request: httpx.Request | None
    method: str
    url: str
    curl: Callable[[], str]
    failure: str | None = None


class Client:
    """Sends requests with hard limits and returns ``Exchange`` records; one per run.

    ``pacer`` defaults to one built from the settings; tests pass one with a fake sleep.
    ``transport`` replaces httpx's TCP transport (an app in this process: ``in_process``); the
    limits, deadline and records stay the same. TLS and connection settings are then its own.
    """

    def __init__(self, settings: TransportSettings, redactor: Redactor,
                 pacer: Pacer | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.redactor = redactor
        self.requests_sent = 0
        self.control_requests = 0  # of them, to the control protocol (send_json, control=True)
        self.transport_failures = 0
        self.retries_total = 0
        self.consecutive_failures = 0
        # The last failure of the current streak reached the target (which is there, and
        # broke its answer), or did not (it is gone, or never was): the breaker's verdict.
        self.streak_reached = False
        self.dropped_requests = 0
        self._recent_drops: collections.deque[bool] = collections.deque(maxlen=DROP_WINDOW)
        self._pacer = pacer or Pacer(settings.rate, settings.max_retry_after)
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._http = _make_http_client(settings, transport)
        self._closed = False

    # --- public API -------------------------------------------------------------------------

    def send(
        self, method: str, url: str, params: Sequence[tuple[str, str]], *,
        in_body: bool = False, headers: Mapping[str, str] | None = None,
        raw_query: bytes | None = None, raw_body: bytes | None = None, hold: float = 0.0,
    ) -> Exchange:
        """Send one API request: ``params`` in the query, or form-encoded in the body when
        ``in_body`` (see ``RequestParts``); a non-empty body defaults to the form type.
        ``hold``: seconds the target may hold this request before it answers, added to the
        read timeout and the total deadline of this request alone."""
        return self._perform(self._prepare(
            Outbound(method, url, params, in_body, headers, raw_query, raw_body, hold)))

    def send_many(self, outbounds: Sequence[Outbound], limit: int | None = None,
                  control: bool = False, stop: Callable[[], bool] | None = None
                  ) -> list[tuple[Exchange, float]]:
        """Send all of ``outbounds`` on the client's loop, at most ``limit`` (default: the
        settings' concurrency) in flight at once, each paced and deadlined as ``send`` does;
        each exchange in the order given, with the monotonic time its answer was complete.
        ``control``: they are control-protocol requests (counted as such). ``stop``: asked
        before each request starts; once it answers True no further one starts (those in
        flight end), and only the ones sent are returned: the first of ``outbounds``."""
        prepared = [self._prepare(o) for o in outbounds]
        gate = max(1, min(limit or self.settings.concurrency, self.settings.concurrency))
        with self._lock:
            sent = self._loop.run_until_complete(self._many(prepared, gate, stop))
        self.control_requests += len(sent) if control else 0
        return sent

    async def _many(self, prepared: Sequence[_Outgoing], limit: int,
                    stop: Callable[[], bool] | None) -> list[tuple[Exchange, float]]:
        """``limit`` workers take the requests in order; a request is taken and ``stop``
        asked with no await between, so the ones sent are always the first ones."""
        queue, stopped = iter(enumerate(prepared)), False
        done: dict[int, tuple[Exchange, float]] = {}

        async def worker() -> None:
            nonlocal stopped
            for index, out in queue:
                stopped = stopped or (stop is not None and stop())  # latched: never resumes
                if stopped:
                    return
                done[index] = await self._complete(out, self._awaited_turn), time.monotonic()

        await asyncio.gather(*(worker() for _ in range(min(limit, len(prepared)))))
        return [done[i] for i in range(len(done))]

    def send_json(
        self, method: str, url: str, payload: object | None
    ) -> tuple[Exchange, object | None]:
        """Send a control-protocol request; the decoded JSON answer, or None when it is not."""
        body = b"" if payload is None else json.dumps(payload).encode()
        headers = {"Content-Type": JSON_TYPE} if body else {}
        exchange = self.send(method, url, (), headers=headers, raw_body=body or None)
        self.control_requests += 1
        return exchange, decode_json(exchange)

    def close(self) -> None:
        """Close the connections and the loop; safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._loop.run_until_complete(asyncio.wait_for(self._http.aclose(),
                                                               CLOSE_SECONDS))
            except Exception:  # closing sockets of a hostile server must not fail a run
                pass
            finally:
                self._loop.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- preparing --------------------------------------------------------------------------

    def _prepare(self, outbound: Outbound) -> _Outgoing:
        parts, hold = outbound.parts(), outbound.hold
        curl = functools.partial(render, parts, self.redactor, self.settings.verify)
        url = join_query(parts.url, urlencode(parts.query), parts.raw_query)
        body = _wire_body(parts)
        try:
            request = self._http.build_request(parts.method, url, content=body,
                                               headers=_wire_headers(parts.headers, body),
                                               timeout=http_timeout(self.settings, hold))
            request.extensions[HOLD] = hold
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, UnicodeError, ValueError) as exc:
            return _Outgoing(None, parts.method, self.redactor(url), curl,
                             failure_message("request", exc))
        return _Outgoing(request, parts.method, self.redactor(str(request.url)), curl)

    # --- sending ----------------------------------------------------------------------------

    def _perform(self, out: _Outgoing) -> Exchange:
        """One request at a time, under the lock: nothing else runs on the loop meanwhile, so
        the pacer's own (injectable) sleep may block it."""
        with self._lock:
            return self._loop.run_until_complete(self._complete(out, self._slept_turn))

    async def _complete(self, out: _Outgoing, turn: Callable[[], Awaitable[float]]) -> Exchange:
        """A prepared request sent in its ``turn`` (or the failure to build it), counted and
        recorded: what ``send`` does, and each request of ``send_many``."""
        if out.request is None:
            progress, elapsed, waited = Progress(error=out.failure), 0.0, 0.0
        else:
            progress, elapsed, waited = await self._send_paced(out.request, turn)
        self._count(progress)
        return self._exchange(out, progress, elapsed, waited)

    async def _send_paced(self, request: httpx.Request, turn: Callable[[], Awaitable[float]]
                          ) -> tuple[Progress, float, float]:
        """Send in our turn; a 429 with Retry-After is sent once more after that wait."""
        waited = await turn()
        progress, elapsed = await self._timed(request)
        if self._owe_retry_after(progress) and progress.status == RESEND_STATUS:
            waited += await turn()
            resent, more = await self._timed(request)
            progress = resent.following(progress, "resent once after the Retry-After wait")
            elapsed += more
            self._owe_retry_after(progress)
        return progress, elapsed, waited

    async def _timed(self, request: httpx.Request) -> tuple[Progress, float]:
        started = time.monotonic()
        progress = await within_deadline(self._http, request, self.settings)
        return progress, time.monotonic() - started

    async def _slept_turn(self) -> float:
        """The pacer's wait, slept by the pacer (``send``: no other request is in flight)."""
        return self._pacer.wait_turn()

    async def _awaited_turn(self) -> float:
        """The pacer's wait, awaited (``send_many``: the requests in flight go on meanwhile)."""
        wait = self._pacer.reserve()
        if wait > 0:
            await asyncio.sleep(wait)
        return wait

    # --- pacing and counting ----------------------------------------------------------------

    def _owe_retry_after(self, progress: Progress) -> bool:
        """Tell the pacer a throttling answer's Retry-After; True (with a note) when owed."""
        value = progress.headers.get("retry-after")
        delay = self._pacer.retry_after(progress.status, value)
        if delay is None:
            return False
        progress.notes.append(f"{progress.status} with Retry-After {value!r}: waiting {delay:g} s")
        return True

    def _count(self, progress: Progress) -> None:
        """The run's counters. Any failure (a stall after the headers too) extends the streak
        the circuit breaker reads; a dropped request enters the window of recent drops."""
        self.requests_sent += 1
        self.retries_total += progress.retries
        dropped = progress.dropped_now
        self.dropped_requests += dropped
        self._recent_drops.append(dropped)
        if progress.error is not None:
            self.transport_failures += 1
            self.consecutive_failures += 1
            # As its last attempt ended: a drop on a stale keep-alive connection, then a
            # refused retry, did not reach the target (a target gone in mid-batch).
            self.streak_reached = (progress.connected
                                   and progress.error.partition(":")[0] not in UNREACHED)
        else:
            self.consecutive_failures = 0
            self.streak_reached = False

    # --- recording --------------------------------------------------------------------------

    def _exchange(
        self, out: _Outgoing, progress: Progress, elapsed: float, waited: float
    ) -> Exchange:
        request, redact, body = out.request, self.redactor, progress.body
        sent = request.content if request is not None else b""
        return Exchange(
            method=out.method, url=out.url,
            request_headers=redact.headers(request.headers.items() if request else ()),
            request_body=redact(sent.decode("utf-8", "replace")) if sent else None,
            status=progress.status, reason=progress.reason,
            headers=redact.headers(progress.headers.items()),
            body=bytes(body.data) if body else b"", truncated=bool(body and body.truncated),
            error=redact(progress.error) if progress.error else None,
            elapsed=elapsed, retries=progress.retries, waited=waited, curl_line=out.curl,
            notes=tuple(redact(n) for n in progress.notes), redactor=redact,
            reached=progress.connected, dropped=tuple(redact(d) for d in progress.dropped),
            drops_nearby=sum(self._recent_drops) if progress.dropped_now else 0,
        )


# --- helpers ----------------------------------------------------------------------------------

def _wire_body(parts: RequestParts) -> bytes:
    return b"&".join(p for p in (urlencode(parts.form).encode(), parts.raw_body or b"") if p)


def _wire_headers(headers: Mapping[str, str], body: bytes) -> dict[str, str]:
    """The caller's headers; a body without a content type is a form. A header given as ""
    is not sent (a body sent without any Content-Type)."""
    wire = {name: value for name, value in headers.items() if value}
    if body and not any(name.lower() == "content-type" for name in headers):
        wire["Content-Type"] = FORM_TYPE
    return wire


def _make_http_client(settings: TransportSettings,
                      transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    timeout = http_timeout(settings)
    verify: bool | ssl.SSLContext = settings.verify if isinstance(settings.verify, bool) \
        else ssl.create_default_context(cafile=settings.verify)
    # A jar that accepts no cookie: a target's session state must not leak between cases.
    no_cookies = http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    client = httpx.AsyncClient(
        timeout=timeout, verify=verify, follow_redirects=False, trust_env=False,
        headers=DEFAULT_HEADERS, cookies=no_cookies,
        limits=httpx.Limits(max_connections=max(4, settings.concurrency),
                            max_keepalive_connections=max(2, settings.concurrency)),
        transport=transport,
    )
    client._cookies = _NoCookies(no_cookies)  # the setter would copy it into a plain one
    keep_sockets(client)
    return client


class _NoCookies(httpx.Cookies):
    """The client's cookies: none, and answers not even read for them. httpx hands every
    answer to the jar, which parsed its headers only to refuse what it found: 2% of a run."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None

