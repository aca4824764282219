"""How a request can end badly, named: what a target can make the client raise, and its kind.

What a target causes (a refused connection, a stall, a reset, a bomb, bytes that are no HTTP)
becomes a ``Failure`` whose kind the exchange records and judging reads; only connect failures
and resets before an answer are retried. Anything outside ``TARGET_ERRORS`` is the suite's own
bug and propagates: a suite error (exit 3), never a failure of the target.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Final

import h11
import httpcore
import httpx

from conformance.wire.inflate import TooLarge
from conformance.wire.limits import TransportSettings

# What a target can make sending a request or reading its answer raise: httpx's errors, the
# httpcore and h11 ones it may leave unwrapped, the OS's (ssl's among them), and what decoding
# the body raises. Only these become an exchange's error string; anything else is the suite's
# own bug and propagates, a suite error (exit 3), never a failure of the target.
TARGET_ERRORS: Final = (httpx.HTTPError, httpx.InvalidURL, httpcore.ProtocolError,
                        httpcore.NetworkError, httpcore.TimeoutException, httpcore.ProxyError,
                        httpcore.UnsupportedProtocol, h11.ProtocolError, OSError, zlib.error,
                        TooLarge, UnicodeError)


@dataclass(frozen=True)
class Failure:
    """A named way an attempt ended: its kind (``Exchange.error_kind``), the message, and
    whether the attempt may be tried again."""

    kind: str
    message: str
    retryable: bool


def failure_message(kind: str, exc: BaseException) -> str:
    """An error string for an exception that has no kind of its own to name."""
    return f"{kind}: {str(exc) or type(exc).__name__}"


def classify(exc: Exception, settings: TransportSettings, *, before_response: bool) -> Failure:
    """Name a transport failure; only connect failures and resets before a response retry."""
    text = _describe(exc)
    if isinstance(exc, httpx.ConnectTimeout):
        return Failure("connect", f"no connection within {settings.connect_timeout:g} s", True)
    if isinstance(exc, httpx.TimeoutException):
        return Failure("timeout", f"no data for {settings.read_timeout:g} s ({text})", False)
    if isinstance(exc, httpx.ConnectError):
        tls = "SSL" in text or "CERTIFICATE" in text.upper()
        return Failure("tls" if tls else "connect", text, not tls)
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        return Failure("reset", text, before_response)
    if isinstance(exc, httpx.RemoteProtocolError):
        closed = before_response and "without sending" in text
        return Failure("closed" if closed else "protocol", text, closed)
    if isinstance(exc, TooLarge):
        return Failure("too-large", text, False)
    if isinstance(exc, zlib.error):
        return Failure("decode", text, False)
    if isinstance(exc, httpx.ProtocolError):
        return Failure("protocol", text, False)
    if isinstance(exc, httpx.HTTPError | httpx.InvalidURL):
        return Failure("request", text, False)
    return Failure("unexpected", f"{type(exc).__name__}: {text}", False)


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
