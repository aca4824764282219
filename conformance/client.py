"""The HTTP transport: one long-lived client per run that never crashes or hangs on a target.

Whatever a target does (trickles bytes, sends 50 MB, resets, redirects, answers garbage) becomes
an ``Exchange`` with an ``error`` string; only programming errors raise. httpx's timeouts apply
per read, so a server sending one byte per second never trips them: the total deadline is held
by running an ``httpx.AsyncClient`` on a private event loop in a background thread and waiting
for each request with a timeout from the calling thread, which cancels the request when it
expires. Nothing is followed (no redirects), nothing is remembered (no cookies, no proxies from
the environment), and everything recorded is redacted, with a curl line to reproduce it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import email.utils
import http.cookiejar
import json
import re
import ssl
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import quote_plus, urlencode

import httpx

from conformance import __version__
from conformance.redact import Redactor

USER_AGENT: Final = f"keepcall-conformance/{__version__}"
FORM_TYPE: Final = "application/x-www-form-urlencoded"
JSON_TYPE: Final = "application/json"
SENSITIVE_HEADERS: Final = frozenset({"authorization", "proxy-authorization", "cookie"})
MASK: Final = "[redacted]"
THROTTLE_STATUSES: Final = frozenset({429, 503})
RESEND_STATUS: Final = 429

# identity: a conformant server then never compresses, so the byte cap applies to real bytes.
DEFAULT_HEADERS: Final = {"User-Agent": USER_AGENT, "Accept": "*/*", "Accept-Encoding": "identity"}


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


@dataclass(frozen=True)
class Exchange:
    """One request and what came back, redacted, with a curl line that reproduces it.

    ``body`` is raw (validators need the bytes) and so is not redacted: show it through
    ``body_excerpt``. ``error`` is ``"<kind>: <message>"`` with kind one of timeout, connect,
    tls, reset, closed, protocol, decode, request, unexpected.
    """

    method: str
    url: str
    request_headers: dict[str, str]
    request_body: str | None
    status: int | None
    reason: str
    headers: dict[str, str]
    body: bytes
    truncated: bool
    error: str | None
    elapsed: float
    retries: int
    waited: float
    curl: str
    notes: tuple[str, ...] = ()
    redactor: Redactor = field(default_factory=Redactor, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None

    def body_excerpt(self, limit: int = 2000) -> str:
        """The start of the body as text, decoded with replacement and redacted."""
        text = self.body[: 4 * (limit + 512)].decode("utf-8", "replace")
        redacted = self.redactor(text)
        return redacted if len(redacted) <= limit else redacted[:limit] + "..."


@dataclass
class _Outgoing:
    """A prepared request: the httpx request plus what the exchange and curl line show."""

    request: httpx.Request | None
    method: str
    url: str
    curl: str
    failure: str | None = None


@dataclass
class _Progress:
    """Filled in by the loop thread while a request runs; read once its deadline is over."""

    status: int | None = None
    reason: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)
    truncated: bool = False
    error: str | None = None
    retries: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Failure:
    kind: str
    message: str
    retryable: bool


class Client:
    """Sends requests with hard limits and returns ``Exchange`` records; one per run."""

    def __init__(self, settings: TransportSettings, redactor: Redactor) -> None:
        self.settings = settings
        self.redactor = redactor
        self.requests_sent = 0
        self.transport_failures = 0
        self.retries_total = 0
        self.consecutive_failures = 0
        self._lock = threading.Lock()
        self._pause = 0.0  # a Retry-After still owed, served in full before the next request
        self._next_slot = 0.0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="keepcall-client", daemon=True
        )
        self._thread.start()
        self._http = _make_http_client(settings)
        self._closed = False

    # --- public API -------------------------------------------------------------------------

    def send(
        self, method: str, url: str, params: Sequence[tuple[str, str]], *,
        in_body: bool = False, headers: Mapping[str, str] | None = None,
        raw_query: bytes | None = None, raw_body: bytes | None = None,
    ) -> Exchange:
        """Send one API request.

        Query string: ``url``'s own query, then ``params`` (unless ``in_body``), then
        ``raw_query`` verbatim. Body: form-encoded ``params`` when ``in_body``, then
        ``raw_body``, joined by ``&``; a non-empty body defaults to the form content type.
        """
        query_params = () if in_body else tuple(params)
        body_params = tuple(params) if in_body else ()
        full_url = _join_query(url, urlencode(query_params), raw_query)
        body = b"&".join(p for p in (urlencode(body_params).encode(), raw_body or b"") if p)
        all_headers = dict(headers or {})
        if body and not _has_header(all_headers, "content-type"):
            all_headers["Content-Type"] = FORM_TYPE
        curl = self._curl_form(method, url, query_params, body_params, headers, raw_query,
                               raw_body)
        return self._perform(self._prepare(method, full_url, all_headers, body, curl))

    def send_json(
        self, method: str, url: str, payload: object | None
    ) -> tuple[Exchange, object | None]:
        """Send a control-protocol request; the decoded JSON answer, or None when it is not."""
        body = b"" if payload is None else json.dumps(payload).encode()
        headers = {"Content-Type": JSON_TYPE} if body else {}
        curl = self._curl_line(method, url, headers, [("--data-binary", body.decode())]
                               if body else [])
        exchange = self._perform(self._prepare(method, url, headers, body, curl))
        return exchange, _decode_json(exchange)

    def close(self) -> None:
        """Close the connections and stop the loop thread; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        future = asyncio.run_coroutine_threadsafe(self._http.aclose(), self._loop)
        try:
            future.result(timeout=5)
        except Exception:  # closing sockets of a hostile server must not fail a run
            future.cancel()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- preparing --------------------------------------------------------------------------

    def _prepare(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes, curl: str
    ) -> _Outgoing:
        try:
            request = self._http.build_request(method, url, headers=headers, content=body)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, UnicodeError, ValueError) as exc:
            return _Outgoing(None, method, self.redactor(url), curl, _message("request", exc))
        return _Outgoing(request, method, self.redactor(str(request.url)), curl)

    # --- sending ----------------------------------------------------------------------------

    def _perform(self, out: _Outgoing) -> Exchange:
        with self._lock:
            progress = _Progress()
            waited = elapsed = 0.0
            if out.request is None:
                progress.error = out.failure
            else:
                waited = self._wait_turn()
                elapsed = self._run(out.request, progress)
                if self._throttled(progress) and progress.status == RESEND_STATUS:
                    progress.notes.append("resent once after the Retry-After wait")
                    waited += self._wait_turn()
                    progress = _Progress(retries=progress.retries, notes=progress.notes)
                    elapsed += self._run(out.request, progress)
                    self._throttled(progress)
            self._count(progress)
            return self._exchange(out, progress, elapsed, waited)

    def _run(self, request: httpx.Request, progress: _Progress) -> float:
        """Run all attempts of one request under the total deadline; returns the time taken."""
        started = time.monotonic()
        future = asyncio.run_coroutine_threadsafe(self._attempts(request, progress), self._loop)
        try:
            future.result(timeout=self.settings.total_timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            progress.error = (
                f"timeout: total deadline of {self.settings.total_timeout:g} s exceeded"
            )
        return time.monotonic() - started

    async def _attempts(self, request: httpx.Request, progress: _Progress) -> None:
        for attempt in range(self.settings.retries + 1):
            failure = await self._attempt(request, progress)
            if failure is None:
                return
            progress.error = f"{failure.kind}: {failure.message}"
            if not failure.retryable or attempt == self.settings.retries:
                return
            progress.retries += 1
            progress.notes.append(f"retried after {progress.error}")
            progress.error = None

    async def _attempt(self, request: httpx.Request, progress: _Progress) -> _Failure | None:
        try:
            response = await self._http.send(request, stream=True)
        except Exception as exc:  # anything the server causes becomes an error string
            return _classify(exc, self.settings, before_response=True)
        try:
            progress.status = response.status_code
            progress.reason = response.reason_phrase
            progress.headers = _header_dict(response.headers)
            await self._read_body(response, progress)
        except Exception as exc:
            return _classify(exc, self.settings, before_response=False)
        finally:
            await _close_quietly(response)
        return None

    async def _read_body(self, response: httpx.Response, progress: _Progress) -> None:
        """Stream the body and stop at the cap, so a 50 MB or endless body costs 1 MB."""
        cap = self.settings.max_response_bytes
        async for chunk in response.aiter_bytes():
            room = cap - len(progress.body)
            if len(chunk) > room:
                progress.body += chunk[:room]
                progress.truncated = True
                return
            progress.body += chunk

    # --- pacing -----------------------------------------------------------------------------

    def _wait_turn(self) -> float:
        """Sleep until the rate limit and any Retry-After allow the next request."""
        now = time.monotonic()
        start = max(now + self._pause, self._next_slot)
        self._pause = 0.0
        if self.settings.rate:
            self._next_slot = start + 1.0 / self.settings.rate
        if start > now:
            time.sleep(start - now)
        return start - now

    def _throttled(self, progress: _Progress) -> bool:
        """Honour Retry-After on 429/503: the next request waits (capped); True when it did."""
        if progress.status not in THROTTLE_STATUSES:
            return False
        value = progress.headers.get("retry-after")
        delay = parse_retry_after(value)
        if value is None or delay is None:
            return False
        delay = min(delay, self.settings.max_retry_after)
        self._pause = max(self._pause, delay)
        progress.notes.append(f"{progress.status} with Retry-After {value!r}: waiting {delay:g} s")
        return True

    def _count(self, progress: _Progress) -> None:
        self.requests_sent += 1
        self.retries_total += progress.retries
        if progress.error is not None:
            self.transport_failures += 1
        if progress.status is None:
            self.consecutive_failures += 1
        else:
            self.consecutive_failures = 0

    # --- recording --------------------------------------------------------------------------

    def _exchange(
        self, out: _Outgoing, progress: _Progress, elapsed: float, waited: float
    ) -> Exchange:
        request = out.request
        body = request.content if request is not None else b""
        return Exchange(
            method=out.method, url=out.url,
            request_headers=self._redact_headers(request.headers.items() if request else ()),
            request_body=self.redactor(body.decode("utf-8", "replace")) if body else None,
            status=progress.status, reason=progress.reason,
            headers=self._redact_headers(progress.headers.items()),
            body=bytes(progress.body), truncated=progress.truncated,
            error=self.redactor(progress.error) if progress.error else None,
            elapsed=elapsed, retries=progress.retries, waited=waited, curl=out.curl,
            notes=tuple(self.redactor(n) for n in progress.notes), redactor=self.redactor,
        )

    def _redact_headers(self, headers: Iterable[tuple[str, str]]) -> dict[str, str]:
        return {name.lower(): self._redact_header(name, value) for name, value in headers}

    def _redact_header(self, name: str, value: str) -> str:
        """Redact a header; credentials no secret matched are masked rather than shown."""
        redacted = self.redactor(value)
        if name.lower() in SENSITIVE_HEADERS and redacted == value:
            scheme = value.split(" ", 1)[0] if " " in value else ""
            return f"{scheme} {MASK}".strip()
        return redacted

    def _curl_form(
        self, method: str, url: str, query_params: Sequence[tuple[str, str]],
        body_params: Sequence[tuple[str, str]], headers: Mapping[str, str] | None,
        raw_query: bytes | None, raw_body: bytes | None,
    ) -> str:
        """A curl line for an API request: parameters as --data-urlencode, like the client."""
        data: list[tuple[str, str]] = []
        get_mode = bool(query_params) and raw_body is None
        if query_params and not get_mode:  # curl -G would move the raw body to the query too
            url = _join_query(url, urlencode(query_params), None)
        for name, value in query_params if get_mode else body_params:
            data.append(_data_urlencode(name, value))
        if raw_body is not None:
            data.append(("--data-binary", raw_body.decode("utf-8", "surrogateescape")))
        url = _join_query(url, "", raw_query)
        return self._curl_line(method, url, dict(headers or {}), data, get_mode=get_mode)

    def _curl_line(
        self, method: str, url: str, headers: Mapping[str, str],
        data: Sequence[tuple[str, str]], *, get_mode: bool = False,
    ) -> str:
        word = self._shell_word
        parts = ["curl", "-sS"]
        if method != "GET" or (data and not get_mode):  # curl posts whenever it has data
            parts += ["-X", word(method)]
        if get_mode:
            parts.append("-G")
        parts += self._curl_tls()
        parts.append(word(url))
        parts += self._curl_headers(headers)
        parts += [f"{option} {word(value)}" for option, value in data]
        return " ".join(parts)

    def _curl_tls(self) -> list[str]:
        verify = self.settings.verify
        if verify is False:
            return ["-k"]
        return ["--cacert", self._shell_word(verify)] if isinstance(verify, str) else []

    def _curl_headers(self, headers: Mapping[str, str]) -> list[str]:
        parts: list[str] = []
        for name, value in headers.items():
            is_auth = name.lower() == "authorization"
            basic = self.redactor.basic_credential(value) if is_auth else None
            if basic is not None:
                parts += ["-u", _quoted_placeholders(f"{basic.username}:{basic.password}")]
            else:
                parts += ["-H", self._shell_word(f"{name}: {self._redact_header(name, value)}")]
        return parts

    def _shell_word(self, text: str) -> str:
        """One double-quoted shell word; placeholders stay shell references, the rest literal."""
        pieces = []
        for segment in self.redactor.segments(text):
            if segment.placeholder and _PLACEHOLDER.fullmatch(segment.text):
                pieces.append(("var", segment.text[1:]))
            else:
                pieces.append(("lit", segment.text))
        return _render_word(pieces)


# --- helpers ----------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\$[A-Za-z_][A-Za-z0-9_]*")
_IDENT_CHAR = re.compile(r"[A-Za-z0-9_]")


def _render_word(pieces: Sequence[tuple[str, str]]) -> str:
    """``$NAME``, or ``${NAME}`` when a name character follows; literals escaped."""
    out = ['"']
    for index, (kind, text) in enumerate(pieces):
        if kind == "var":
            after = pieces[index + 1] if index + 1 < len(pieces) else ("var", "")
            braced = after[0] == "lit" and _IDENT_CHAR.match(after[1][:1]) is not None
            out.append(f"${{{text}}}" if braced else f"${text}")
        else:
            out.append("".join(_escape_char(c) for c in text))
    out.append('"')
    return "".join(out)


def _escape_char(char: str) -> str:
    """Escape for double quotes; control and undecodable bytes leave the quotes as $'\\xHH'."""
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a raw byte kept by surrogateescape
        return f"\"$'\\x{code - 0xDC00:02x}'\""
    if code < 0x20 or code == 0x7F:
        return f"\"$'\\x{code:02x}'\""
    return "\\" + char if char in '\\"$`' else char


def _quoted_placeholders(text: str) -> str:
    return f'"{text}"'


def _data_urlencode(name: str, value: str) -> tuple[str, str]:
    """curl encodes only the value of name=value: names needing encoding go in pre-encoded."""
    if quote_plus(name) == name:
        return "--data-urlencode", f"{name}={value}"
    return "--data", f"{quote_plus(name)}={quote_plus(value)}"


def _join_query(url: str, encoded: str, raw: bytes | None) -> str:
    base, _, fragment = url.partition("#")
    parts = [p for p in (encoded, raw.decode("latin-1") if raw else "") if p]
    if not parts:
        return url
    separator = "&" if "?" in base and not base.endswith(("?", "&")) else ""
    joined = base + ("" if "?" in base else "?") + separator + "&".join(parts)
    return joined + ("#" + fragment if fragment else "")


def _has_header(headers: Mapping[str, str], name: str) -> bool:
    return any(key.lower() == name for key in headers)


def _header_dict(headers: httpx.Headers) -> dict[str, str]:
    """Lower-case names; repeated headers joined with ", " as HTTP allows."""
    out: dict[str, str] = {}
    for name, value in headers.multi_items():
        key = name.lower()
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date; None when unusable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _decode_json(exchange: Exchange) -> object | None:
    if exchange.status is None or exchange.truncated or not exchange.body:
        return None
    try:
        decoded: object = json.loads(exchange.body)
    except (ValueError, RecursionError):
        return None
    return decoded


def _message(kind: str, exc: BaseException) -> str:
    return f"{kind}: {str(exc) or type(exc).__name__}"


def _classify(exc: Exception, settings: TransportSettings, *, before_response: bool) -> _Failure:
    """Name a transport failure; only connect failures and resets before a response retry."""
    text = _describe(exc)
    if isinstance(exc, httpx.ConnectTimeout):
        return _Failure("connect", f"no connection within {settings.connect_timeout:g} s", True)
    if isinstance(exc, httpx.TimeoutException):
        return _Failure("timeout", f"no data for {settings.read_timeout:g} s ({text})", False)
    if isinstance(exc, httpx.ConnectError):
        tls = "SSL" in text or "CERTIFICATE" in text.upper()
        return _Failure("tls" if tls else "connect", text, not tls)
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        return _Failure("reset", text, before_response)
    if isinstance(exc, httpx.RemoteProtocolError):
        closed = before_response and "without sending" in text
        return _Failure("closed" if closed else "protocol", text, closed)
    if isinstance(exc, httpx.DecodingError):
        return _Failure("decode", text, False)
    if isinstance(exc, httpx.ProtocolError):
        return _Failure("protocol", text, False)
    if isinstance(exc, httpx.HTTPError | httpx.InvalidURL):
        return _Failure("request", text, False)
    return _Failure("unexpected", f"{type(exc).__name__}: {text}", False)


def _describe(exc: BaseException) -> str:
    """The exception's message, with the OS-level cause httpx wraps (e.g. errno 104)."""
    text = str(exc)
    cause = exc.__cause__ or exc.__context__
    for _ in range(4):  # httpx wraps httpcore, which wraps the OSError
        if cause is None:
            break
        detail = str(cause)
        if detail and detail not in text:
            text = f"{text} ({detail})" if text else detail
        cause = cause.__cause__ or cause.__context__
    return text or type(exc).__name__


async def _close_quietly(response: httpx.Response) -> None:
    with contextlib.suppress(Exception):  # the connection is dropped either way
        await response.aclose()


def _make_http_client(settings: TransportSettings) -> httpx.AsyncClient:
    timeout = httpx.Timeout(
        connect=settings.connect_timeout, read=settings.read_timeout,
        write=settings.read_timeout, pool=settings.connect_timeout,
    )
    verify: bool | ssl.SSLContext = settings.verify if isinstance(settings.verify, bool) \
        else ssl.create_default_context(cafile=settings.verify)
    # A jar that accepts no cookie: a target's session state must not leak between cases.
    no_cookies = http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    return httpx.AsyncClient(
        timeout=timeout, verify=verify, follow_redirects=False, trust_env=False,
        headers=DEFAULT_HEADERS, cookies=no_cookies,
        limits=httpx.Limits(max_connections=4, max_keepalive_connections=2),
    )
