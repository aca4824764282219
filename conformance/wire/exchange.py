"""An exchange: one request and what came back, as the run records it and judging reads it.

Whatever a target did, the transport hands back one of these, never an exception: the answer's
bytes within the cap, or an ``error`` whose kind says whether the target was reached, broke its
answer or dropped the request. Everything shown of it is redacted; its curl line reproduces it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from conformance.wire.redact import Redactor

# Error kinds (``Exchange.error_kind``) of a request that never reached the target's HTTP server
# (nothing to judge: inconclusive), and of an attempt the target dropped (it reset or closed the
# connection without an answer). Any other failure of a request that reached the target is a
# broken answer: a failure of the target, with the evidence.
UNREACHED: Final = frozenset({"connect", "tls", "request"})
DROPPED: Final = frozenset({"reset", "closed"})
# A target that keeps dropping requests: this many drops among the last DROP_WINDOW requests.
DROP_PATTERN: Final = 3
DROP_WINDOW: Final = 100


@dataclass(frozen=True)
class Exchange:
    """One request and what came back, redacted, with a curl line that reproduces it.

    ``body`` is the answer's bytes (any content coding undone, cut at the cap), not redacted
    because validators need them as they came: show it through ``body_excerpt``. ``error`` is
    ``"<kind>: <message>"`` with kind one of timeout, connect, tls, reset, closed, protocol,
    decode, too-large, request, unexpected.
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
    curl_line: Callable[[], str] = field(repr=False, compare=False)
    notes: tuple[str, ...] = ()
    redactor: Redactor = field(default_factory=Redactor, repr=False, compare=False)
    reached: bool = True  # a connection to the target was made (TCP, and TLS where used)
    dropped: tuple[str, ...] = ()  # the errors of attempts the target dropped, then retried
    drops_nearby: int = 0  # dropped requests among the last DROP_WINDOW, this one included

    @functools.cached_property
    def curl(self) -> str:
        """The curl line; rendered when first shown (most exchanges never are)."""
        return self.curl_line()

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None

    @property
    def broken(self) -> bool:
        """The target was reached and its answer broke (a stall, a drip, a reset, a bomb,
        bytes that are no HTTP): the target's failure, never "unreachable"."""
        return self.error is not None and self.reached and self.error_kind not in UNREACHED

    @property
    def error_kind(self) -> str | None:
        """The ``<kind>`` of ``error`` (see above), or None without one."""
        return None if self.error is None else self.error.partition(":")[0]

    def body_excerpt(self, limit: int = 2000, text: str | None = None) -> str:
        """The start of the body as text (or of ``text``, the body shown otherwise, e.g.
        pretty-printed), decoded with replacement and redacted."""
        window = 4 * (limit + 512)  # enough text for ``limit`` characters once redacted
        if text is None:
            text = self.body[:window].decode("utf-8", "replace")
        whole = len(text) <= window and len(self.body) <= window
        return self.redactor.excerpt(text[:window], limit,
                                     cut=not whole or self.truncated)


def decode_json(exchange: Exchange) -> object | None:
    """The JSON of a whole answer, or None (what ``Client.send_json`` gives)."""
    if exchange.status is None or exchange.truncated or not exchange.body:
        return None
    try:
        decoded: object = json.loads(exchange.body)
    except (ValueError, RecursionError):
        return None
    return decoded
