"""A configured target: where requests go, with which secrets, and how its calls are set up.

Requests carry symbolic credentials (valid / missing / invalid); the target alone knows the real
ones and puts them in at the last moment, so nothing above this layer ever holds a secret.
"""

from __future__ import annotations

import base64
import hashlib
import html
import random
import re
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from conformance.catalog.spec import (
    NEXT_WINDOW_SECONDS,
    P_ACTION,
    P_API_KEY,
    P_RESPONSE_TYPE,
    P_STATUS,
    P_TOKEN,
    TOKEN_ACTION,
)
from conformance.domain.breaker import Breakers
from conformance.domain.fuzzing import Wire
from conformance.domain.model import Call, Credential, KeepCallRequest
from conformance.wire.control import Control
from conformance.wire.envelope import validate_xml
from conformance.wire.exchange import Exchange
from conformance.wire.redact import SECRETS, Redactor
from conformance.wire.secret_forms import MIN_SECRET_LEN
from conformance.wire.transport import Client, Outbound

# Wrong but well-shaped values: a target must reject them, and they are no one's secret. Used
# where no real value is there to derive a wrong one from.
INVALID_API_KEY = "ffffffff-ffff-4fff-bfff-ffffffffffff"
INVALID_TOKEN = "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ"


def _same_shape(real: str) -> str:
    """Each letter and digit of ``real`` replaced by a random one of its kind, anything else (a
    GUID's dashes) kept: the real one's shape, none of its characters by more than chance.
    Seeded by a hash of ``real``, so a run's cases and their replays send the same value."""
    rng = random.Random(hashlib.sha256(real.encode()).digest())
    kinds = (str.isdigit, "0123456789"), (str.islower, "abcdef"), (str.isupper, "ABCDEF")
    def one(char: str) -> str:
        pool = next((p for test, p in kinds if test(char)), None)
        return char if pool is None else rng.choice(pool.replace(char, "") or pool)
    return "".join(one(c) for c in real)


# Wrong values derived from the real key or token (envelope notes: opaque strings, GUID-shaped
# or 32 letters and digits): a target comparing by prefix, by shape, or only part of the value
# accepts one of them. Each holds the real value whole (redacted to its placeholder wherever it
# is shown) or none of it, so no report shows a part of a secret; none is registered as one.
WRONG_FORMS: Final[dict[str, Callable[[str], str]]] = {
    "longer": lambda real: real + "0",
    "prefixed": lambda real: "0" + real,
    "same shape": _same_shape,
    "GUID": lambda real: str(uuid.uuid5(uuid.NAMESPACE_OID, real)),
    "empty": lambda real: "",
}


def wrong_value(real: str | None, form: str, fixed: str) -> str:
    """``real`` made wrong in ``form``; ``fixed`` where there is no real value long enough for
    the redactor to find inside the wrong one."""
    if real is None or len(real) < MIN_SECRET_LEN:
        return fixed
    wrong = WRONG_FORMS[form](real)
    return fixed if wrong == real else wrong


def wrong_form(request: KeepCallRequest) -> str:
    """The form a case's wrong value takes: spread over the forms by the case's parameters
    (its callID and number are the run's own), the same for the case's replay."""
    forms = tuple(WRONG_FORMS)
    return forms[zlib.crc32(repr(request.params).encode()) % len(forms)]

# Tokens live an hour (envelope notes); one obtained by RequestToken is renewed well before that,
# so a run longer than an hour against a remote target keeps authenticating.
TOKEN_RENEW_SECONDS = 50 * 60
# A target may hold a `next` request until the call it finds starts, or up to the minute for
# one to appear (implementation-defined): such a request may take this much longer than the
# transport's timeouts allow any other, and a wait within it is a reading, not a timeout.
NEXT_HOLD_SECONDS: Final = float(NEXT_WINDOW_SECONDS)


def next_hold(request: KeepCallRequest) -> float:
    """Seconds the target may hold ``request`` before it answers: the window for a status
    that reaches `next` (any spelling), none for any other."""
    return NEXT_HOLD_SECONDS if "next" in (request.get(P_STATUS) or "").lower() else 0.0

PLACEHOLDERS = {"api_key": "$KEEPCALL_API_KEY", "open_api_key": "$KEEPCALL_OPEN_API_KEY",
                "token": "$KEEPCALL_TOKEN", "password": "$KEEPCALL_PASSWORD"}


@dataclass(frozen=True)
class Credentials:
    """The secrets of a target; its repr says which are given, never what they are."""

    api_key: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    open_api_key: str | None = field(default=None, repr=False)

    def redactor(self) -> Redactor:
        """The process's redactor (``redact.SECRETS``), with these secrets registered in it:
        whatever leaves the process is redacted of them from now on."""
        for name, value in self.__dict__.items():
            if value and name in PLACEHOLDERS:
                SECRETS.add(value, PLACEHOLDERS[name])
        if self.username and self.password:
            SECRETS.add_basic(self.username, self.password)
        return SECRETS

    def __repr__(self) -> str:
        given = ", ".join(f"{name}=<given>" for name, value in self.__dict__.items() if value)
        return f"Credentials({given})"


def needs_token(declared: bool | None, token: bool, login: bool) -> bool | None:
    """Whether the target's key needs a token: as declared (``--token-required``, a profile's
    ``token_required``); undeclared, None (either, KC-AUTH-011: the page ties the token to the
    key's configuration, which a login or a token given does not tell) when a token can be
    sent, else False (none can be). The one rule: a case's marker (``Settings.needs_token``,
    before collection) and its verdict (``Target``) both ask it."""
    if declared is not None:
        return declared
    return None if token or login else False


# A token in a RequestToken answer that does not parse (cut, malformed): never used, but still a
# credential the target handed out, so redacted like one.
_TOKEN_LIKE = re.compile(r"""token\s*=\s*(?:"([^"<]{4,256})"|'([^'<]{4,256})')"""
                         r"|<token>\s*([^<\s]{4,256})\s*</token>", re.IGNORECASE)


def _token_like(body: bytes) -> set[str]:
    """Every token-like value of a RequestToken answer, as the XML would read it."""
    text = body[:1 << 16].decode("utf-8", "replace")
    return {html.unescape(next(g for g in m.groups() if g)) for m in _TOKEN_LIKE.finditer(text)}


class Target:
    """One endpoint under test. ``control`` is None for targets without a control URL.

    ``clock`` (seconds, monotonic) dates the tokens obtained here; tests pass a fake one.
    """

    def __init__(self, url: str, credentials: Credentials, client: Client,
                 control: Control | None = None, token_required: bool | None = None,
                 static_calls: tuple[Call, ...] = (),
                 clock: Callable[[], float] = time.monotonic,
                 calls_valid_at: float | None = None) -> None:
        self.url = url
        self.credentials = credentials
        self.client = client
        self.control = control
        self.static_calls = static_calls
        # When the static calls' offsets held (epoch seconds): a profile's, or now.
        self.calls_valid_at = time.time() if calls_valid_at is None else calls_valid_at
        self.token_required = needs_token(token_required, bool(credentials.token),
                                          bool(credentials.username and credentials.password))
        self._token: str | None = credentials.token
        self._clock = clock
        # What a probe found the target takes (conformance/wire/dialect.py); until then the page's
        # plain reading: POST parameters in a form body, either status-list spelling open.
        self.post_encoding = "form"
        self.status_spelling: str | None = None
        self._token_obtained: float | None = None  # None: given by the user, or none yet
        self.breakers = Breakers()  # the classes of request the target stopped answering
        # Other processes of the run send cases to this target now: its clock is not ours to
        # move (the parallel part of --workers).
        self.clock_shared = False

    def calls_age(self) -> float:
        """Seconds the static calls have aged since their offsets held (0 with a control URL,
        whose calls are set up for each case)."""
        return 0.0 if self.control is not None else max(0.0, time.time() - self.calls_valid_at)

    # --- tokens ---------------------------------------------------------------------------
    @property
    def can_request_tokens(self) -> bool:
        return bool(self.credentials.username and self.credentials.password)

    @property
    def clock_pinned(self) -> str | None:
        """Why the target's clock must not move, or None: a token the user gave ages with it
        and cannot be renewed, so every case after its hour would be an auth error."""
        if self.token_required is not False and not self.can_request_tokens:
            return ("moving the target's clock would age the given token, which cannot be "
                    "renewed (give --username/--password instead of --token)")
        return None

    def token(self) -> str | None:
        """The session token: the one given, or one obtained by RequestToken, cached and
        renewed before its hour is up (a given token cannot be renewed: it is used as is)."""
        if self.can_request_tokens and (self._token is None or self._token_is_old()):
            self._renew_token()
        return self._token

    def _token_is_old(self) -> bool:
        obtained = self._token_obtained
        return obtained is not None and self._clock() - obtained >= TOKEN_RENEW_SECONDS

    def _renew_token(self) -> None:
        """RequestToken again; if it fails, an old token (still minutes to live) is kept and
        the next case tries again."""
        token = self.request_token()[1]
        if token:
            self._token, self._token_obtained = token, self._clock()

    def forget_token(self) -> None:
        """After the target's clock moved, a cached token may have expired."""
        if self.can_request_tokens:
            self._token, self._token_obtained = None, None

    def request_token(self, password: str | None = None) -> tuple[Exchange, str | None]:
        """RequestToken with HTTP Basic; a token the target returns is redacted from then on."""
        login = f"{self.credentials.username}:{password or self.credentials.password}"
        basic = base64.b64encode(login.encode()).decode()
        # XML named, not defaulted: a wrong default must not cost the whole run its token.
        params = [(P_ACTION, TOKEN_ACTION), (P_API_KEY, self.credentials.api_key or ""),
                  (P_RESPONSE_TYPE, "XML")]
        headers = {"Authorization": f"Basic {basic}"}
        exchange = self.client.send("GET", self.url, params, headers=headers)
        if exchange.status == 405:  # the page allows either method; try the other one
            exchange = self.client.send("POST", self.url, params, in_body=True, headers=headers)
        token = validate_xml(exchange.body, None, TOKEN_ACTION).token if exchange.ok else None
        for handed_out in {token, *_token_like(exchange.body)} - {None, ""}:
            self.client.redactor.add(str(handed_out), PLACEHOLDERS["token"])
        return exchange, token

    # --- KeepCall -------------------------------------------------------------------------
    def send_wire(self, wire: Wire) -> Exchange:
        """A fuzzed request, byte for byte as built (fuzzing.Wire)."""
        hold = max(map(next_hold, wire.views), default=0.0)
        return self.client.send(wire.method, self.url, (), headers=wire.headers,
                                raw_query=wire.query or None, raw_body=wire.body or None,
                                hold=hold)

    def credential_params(self, request: KeepCallRequest, open_key: bool = False,
                          form: str | None = None) -> list[tuple[str, str]] | None:
        """The apiKey and token parameters, or None when the case needs a secret we lack.
        A wrong one is the real one made wrong in ``form`` (by default one chosen by the
        case: ``wrong_form``)."""
        key = self.credentials.open_api_key if open_key else self.credentials.api_key
        token = None if open_key else self.token()
        form = form or wrong_form(request)
        values = {P_API_KEY: (request.api_key, key, wrong_value(key, form, INVALID_API_KEY)),
                  P_TOKEN: (request.token, token,
                            wrong_value(token or self.credentials.token, form, INVALID_TOKEN))}
        params: list[tuple[str, str]] = []
        for name, (wanted, real, wrong) in values.items():
            if wanted is Credential.VALID:
                if real is None:
                    if name == P_TOKEN and self.token_required is False:
                        continue  # the key needs no token: "valid" means none
                    return None
                params.append((name, real))
            elif wanted is Credential.INVALID:
                params.append((name, wrong))
        return params

    def send(self, request: KeepCallRequest, credentials: list[tuple[str, str]]) -> Exchange:
        out = self.outbound(request, credentials)
        return self.client.send(out.method, out.url, out.params, in_body=out.in_body,
                                hold=out.hold)

    def outbound(self, request: KeepCallRequest, credentials: list[tuple[str, str]]
                 ) -> Outbound:
        """The request as the client sends it (``send``, or many at once: batch.py)."""
        params = [*credentials, *request.params]
        in_query = request.post_in_query or self.post_encoding == "query"
        in_body = request.method == "POST" and not in_query
        return Outbound(request.method, self.url, params, in_body=in_body,
                        hold=next_hold(request))
